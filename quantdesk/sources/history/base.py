"""The history provider interface and the registry of providers.

A provider answers one question: the bars of one symbol and interval between
two instants. It knows its own HTTP API and symbol convention, nothing about
failover, storage or roll-ups (that is :mod:`quantdesk.sources.history.router`
and :mod:`quantdesk.backfill.run`).

==========================  ========  =================================================
member                      required  meaning
==========================  ========  =================================================
``name``                    yes       registry key and the stored ``source`` value
``markets``                 yes       markets served: ``{"cn"}``, ``{"us"}`` or both
``intervals``               yes       canonical intervals it can answer (``1m`` ... ``1d``)
``timeout``                 yes       seconds per request (the router's budget for it)
``fetch(symbol, interval,   yes       bars in ``market_klines`` form (:data:`BAR_COLUMNS`,
start, end)``                         ``time`` = bar start, epoch ms UTC, in
                                      ``[start, end)``), ``source`` = ``name``; raises
                                      :class:`ProviderError` with a one-line reason
``from_settings(settings)``  yes      classmethod: build it from :class:`Settings`
``supports(symbol,          no        default: market and interval checks
interval)``
``close()``                 no        release the HTTP client
==========================  ========  =================================================

Providers register by name (:func:`register_provider`); config says
``QUANTDESK_HISTORY_SOURCES=akshare,yahoo,...`` and :func:`create_provider`
builds each one.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import httpx
import numpy as np
import pandas as pd

from quantdesk.config import Settings
from quantdesk.domain import BAR_COLUMNS, normalize_interval
from quantdesk.errors import ConfigError, QuantdeskError
from quantdesk.errors import ProviderError as ProviderError
from quantdesk.plugins import Registry
from quantdesk.sources.history.symbols import market_of


class HistoryProvider(abc.ABC):
    """One source of historical bars (see the module docstring)."""

    name: ClassVar[str] = ""
    markets: ClassVar[frozenset[str]] = frozenset({"cn", "us"})
    intervals: ClassVar[frozenset[str]] = frozenset({"1m", "5m", "15m", "30m", "60m", "1d"})
    default_timeout: ClassVar[float] = 10.0

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = float(timeout if timeout is not None else self.default_timeout)
        self._deadline: float | None = None

    @contextlib.contextmanager
    def budget(self) -> Iterator[None]:
        """Within this block all requests together get :attr:`timeout` seconds (the router's
        per-provider limit, also across several requests of one fetch)."""
        self._deadline = time.monotonic() + self.timeout
        try:
            yield
        finally:
            self._deadline = None

    def remaining(self) -> float:
        """Seconds left of the budget (:attr:`timeout` outside :meth:`budget`)."""
        if self._deadline is None:
            return self.timeout
        return min(self.timeout, self._deadline - time.monotonic())

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, settings: Settings) -> HistoryProvider: ...

    @abc.abstractmethod
    def fetch(self, symbol: str, interval: str, start: int, end: int) -> pd.DataFrame:
        """Bars of ``symbol`` with ``start <= time < end`` (epoch ms UTC)."""

    def supports(self, symbol: str, interval: str) -> str | None:
        """None if this provider can answer, else why not (one line)."""
        try:
            market = market_of(symbol)
        except QuantdeskError as exc:
            return str(exc)
        if market not in self.markets:
            return f"does not serve the {market} market"
        if normalize_interval(interval) not in self.intervals:
            return f"has no {interval} bars"
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients)."""

    def fail(self, reason: str) -> ProviderError:
        return ProviderError(self.name, reason)


class HttpProvider(HistoryProvider):
    """A provider behind one HTTP API: shared client, error mapping, JSON parsing."""

    def __init__(
        self,
        base_url: str,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(timeout)
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            transport=transport,
            headers={"User-Agent": "quantdesk-history/1 (+https://github.com/)"},
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    def request_json(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        method: str = "GET",
    ) -> Any:
        """The decoded JSON answer, or :class:`ProviderError` (timeout, HTTP status, not JSON)."""
        url = f"{self.base_url}{path}"
        left = self.remaining()
        if left <= 0:
            raise self.fail(f"timeout after {self.timeout:g} s")
        try:
            resp = self._client.request(
                method, url, params=params, json=json, timeout=httpx.Timeout(left)
            )
        except httpx.TimeoutException:
            raise self.fail(f"timeout after {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise self.fail(f"request failed ({type(exc).__name__}: {exc})") from None
        if resp.status_code == 429:
            retry = resp.headers.get("Retry-After")
            raise self.fail(
                "rate limited (HTTP 429" + (f", retry after {retry} s)" if retry else ")")
            )
        if resp.status_code >= 400:
            raise self.fail(f"HTTP {resp.status_code}: {_snippet(resp.text)}")
        try:
            return resp.json()
        except ValueError:
            raise self.fail(f"malformed answer: not JSON ({_snippet(resp.text)})") from None


def _snippet(text: str, n: int = 120) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[:n] + "..."


def bars_frame(
    provider: str,
    symbol: str,
    interval: str,
    time_ms: Any,
    open_: Any,
    high: Any,
    low: Any,
    close: Any,
    volume: Any,
    *,
    amount: Any = None,
    start: int | None = None,
    end: int | None = None,
) -> pd.DataFrame:
    """Columns -> a ``market_klines`` frame; rows outside ``[start, end)`` and rows with a
    missing price are dropped. ``vwap`` = amount / volume where given (clipped to
    [low, high]), else (high + low + close) / 3. Raises ProviderError on bad columns.
    """
    try:
        frame = pd.DataFrame(
            {
                "time": np.asarray(time_ms, dtype=np.int64),
                "open": np.asarray(open_, dtype=np.float64),
                "high": np.asarray(high, dtype=np.float64),
                "low": np.asarray(low, dtype=np.float64),
                "close": np.asarray(close, dtype=np.float64),
                "volume": np.asarray(volume, dtype=np.float64),
            }
        )
        amt = None if amount is None else np.asarray(amount, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ProviderError(provider, f"malformed answer: {exc}") from None
    if amt is not None:
        if len(amt) != len(frame):
            raise ProviderError(provider, "malformed answer: columns of different lengths")
        frame["amount"] = amt
    prices = frame[["open", "high", "low", "close"]].to_numpy()
    keep = np.isfinite(prices).all(axis=1)  # Yahoo: null prices for minutes with no trade
    if start is not None:
        keep &= frame["time"].to_numpy() >= start
    if end is not None:
        keep &= frame["time"].to_numpy() < end
    frame = frame[keep].reset_index(drop=True)
    frame["volume"] = frame["volume"].fillna(0.0)
    typical = (frame["high"] + frame["low"] + frame["close"]) / 3
    if "amount" in frame.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            vwap = frame["amount"] / frame["volume"].where(frame["volume"] > 0)
        frame["vwap"] = vwap.where(np.isfinite(vwap), typical).clip(frame["low"], frame["high"])
    else:
        frame["vwap"] = typical
    frame["symbol"] = symbol
    frame["interval"] = normalize_interval(interval)
    frame["trades"] = np.int64(0)
    frame["source"] = provider
    return frame[list(BAR_COLUMNS)]


# -- registry -------------------------------------------------------------------

#: History providers by name (``QUANTDESK_HISTORY_SOURCES``, ``backfill --source``); a
#: user's package adds one with ``HISTORY_PROVIDERS.register(...)`` or the
#: ``quantdesk.history_providers`` entry points.
HISTORY_PROVIDERS: Registry[type[HistoryProvider]] = Registry(
    "history source", group="quantdesk.history_providers"
)
for _name, _impl in {
    "akshare": "quantdesk.sources.history.akshare:AkShareProvider",
    "yahoo": "quantdesk.sources.history.yahoo:YahooProvider",
    "alphavantage": "quantdesk.sources.history.alphavantage:AlphaVantageProvider",
    "tushare": "quantdesk.sources.history.tushare:TushareProvider",
    "finnhub": "quantdesk.sources.history.finnhub_candles:FinnhubCandlesProvider",
    "local": "quantdesk.sources.history.local:LocalFilesProvider",
}.items():
    HISTORY_PROVIDERS.register(_name, _impl)
#: Seed C's failover order (local files last).
DEFAULT_ORDER: tuple[str, ...] = ("akshare", "yahoo", "alphavantage", "tushare", "finnhub", "local")


def register_provider(name: str, cls: type[HistoryProvider] | str) -> None:
    """Register a provider class (or ``"module:Class"``, imported on first use)."""
    HISTORY_PROVIDERS.register(name, cls)


def provider_names() -> list[str]:
    """Registered providers: the built-in ones in failover order, then the others."""
    names = HISTORY_PROVIDERS.names()
    return [n for n in DEFAULT_ORDER if n in names] + [n for n in names if n not in DEFAULT_ORDER]


def provider_class(name: str) -> type[HistoryProvider]:
    entry = HISTORY_PROVIDERS.get(name)
    if not (isinstance(entry, type) and issubclass(entry, HistoryProvider)):
        raise ConfigError(f"history source {name!r} is registered as {entry!r}, not a provider")
    return entry


def create_provider(name: str, settings: Settings) -> HistoryProvider:
    """Build the provider ``name`` from settings (base URL, token, timeout)."""
    provider = provider_class(name).from_settings(settings)
    override = settings.history_timeouts.get(name)
    if override is not None:
        provider.timeout = float(override)
        client = getattr(provider, "_client", None)
        if isinstance(client, httpx.Client):
            client.timeout = httpx.Timeout(provider.timeout)
    return provider
