"""``QUANTDESK_SOURCE=finnhub``: live Finnhub trades, clock heartbeats, REST fill of gaps.

A streaming :class:`~quantdesk.sources.base.LiveSource`: :meth:`FinnhubSource.stream`
yields, per symbol and in event time (the trades' own ``t``):

* :class:`~quantdesk.bus.TradeBatch` (source ``"finnhub"``) for every trade frame;
* a :class:`~quantdesk.bus.Heartbeat` every ``finnhub_heartbeat_seconds`` of
  wall time (``ts`` = now), so bars close at a session's end without a trade.

**Gap rule (no holes, nothing counted twice).** The source tracks when the
stream was connected. A *gap* runs from the last frame received before a
connection ended (or from the start of the process) to the moment every
symbol is subscribed again on the next connection, widened by
``margin_ms`` on both sides (trades reach us a little after their ``t``).
Every 1-minute bucket that a gap touches is *touched*:

* live trades whose ``t`` falls in a touched minute are dropped (counted in
  :attr:`FinnhubSource.replaced_trades`);
* once the minute has ended (plus ``finnhub_rest_settle_seconds``), its
  complete 1-minute candle is fetched from ``/stock/candle`` and handed to
  the source's sink (:class:`~quantdesk.sources.finnhub.gaps.RestAwareSink`,
  which the runner writes through: it upserts the candle as the 1m bar and
  rolls the larger intervals up again). Without a sink (``sink()`` never
  called) no candle is fetched.

So a minute fully inside a connected interval comes from trades (source
``finnhub``); a minute that a disconnect touched comes from the provider's
candle (source ``finnhub:rest``, VWAP estimated as ``(h + l + c) / 3``,
trade count 0). The minute in which the process starts is touched too (its
first part was not seen). ``"no_data"`` means the provider saw no trade in
the minute: it gets no bar. A failed request (error, 429) is retried later
with back-off; ``Retry-After`` is honoured. If the token may not read
candles at all (HTTP 401/403, e.g. a plan without ``/stock/candle``), REST
fill is switched off with one warning: from then on no minute is touched and
every live trade is kept (a disconnect then leaves the minutes it touched
incomplete; the minutes already touched keep what was stored).

**Restart.** The snapshot committed with each checkpoint holds the wall time
it was taken and the minutes still waiting for their candle. After a restart
(even a SIGKILL) the gap runs from that time, so every minute whose trades
the killed process may have seen but not committed is taken from REST, and
nothing is counted twice.

Symbols: ``--symbols`` / ``QUANTDESK_SYMBOLS`` (default: the preset US
universe). Bars are placed in NYSE (XNYS) sessions (``--test``: no sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from quantdesk.bus import Heartbeat, TradeBatch
from quantdesk.calendars import ExchangeCalendar, get_calendar
from quantdesk.domain import Bar, StockMeta
from quantdesk.domain.time import now_ms
from quantdesk.errors import ConfigError
from quantdesk.sources.base import LiveSource, SourceContext, no_argument
from quantdesk.sources.finnhub.candles import CandleClient, CandleFetchError
from quantdesk.sources.finnhub.client import (
    GUARDED_LOGGERS,
    FinnhubClient,
    RedactFilter,
    backoff_delay,
    redact,
)
from quantdesk.sources.finnhub.protocol import SOURCE_LIVE, Trades

if TYPE_CHECKING:
    from quantdesk.sources.finnhub.gaps import RestAwareSink
    from quantdesk.storage.base import Store

log = logging.getLogger("quantdesk.sources.finnhub")

MINUTE_MS = 60_000
TOKEN_ENV = "FINNHUB_TOKEN"
#: At most this many minutes per candle request.
MAX_MINUTES_PER_REQUEST = 600

RestSink = Callable[[str, list[Bar], list[int]], Awaitable[None]]
TouchedHook = Callable[[list[int]], None]
#: Messages waiting for the runner before the source waits (back-pressure).
QUEUE_SIZE: Final = 10_000
#: Touched minutes kept in a snapshot (older ones are settled).
KEEP_TOUCHED_MS: Final = 86_400_000


def finnhub_token(env: dict[str, str] | None = None) -> str:
    """The API token from ``FINNHUB_TOKEN`` (environment, then ``./.env``)."""
    environ = os.environ if env is None else env
    token = environ.get(TOKEN_ENV, "").strip()
    if not token and env is None:
        from dotenv import dotenv_values

        token = (dotenv_values(".env").get(TOKEN_ENV) or "").strip()
    if not token:
        raise ConfigError(f"{TOKEN_ENV}: not set; export your Finnhub API token as {TOKEN_ENV}=...")
    return token


def parse_symbols(text: str | Iterable[str]) -> list[str]:
    """``"AAPL, googl,TSLA"`` -> ``["AAPL", "GOOGL", "TSLA"]`` (order kept, no duplicates)."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for p in parts:
        s = p.strip().upper()
        if s and s not in out:
            out.append(s)
    if not out:
        raise ConfigError("--symbols: give at least one symbol, e.g. AAPL,GOOGL,TSLA")
    return out


#: The wall clock in epoch ms (the source's default notion of now).
wall_ms = now_ms


def minutes_between(start_ms: int, end_ms: int) -> list[int]:
    """Starts of every minute that ``[start_ms, end_ms]`` touches."""
    first = start_ms // MINUTE_MS * MINUTE_MS
    last = end_ms // MINUTE_MS * MINUTE_MS
    return list(range(first, last + MINUTE_MS, MINUTE_MS))


def runs(minutes: list[int], cap: int = MAX_MINUTES_PER_REQUEST) -> list[tuple[int, int]]:
    """Sorted minute starts as ``[start, end)`` ranges of consecutive minutes."""
    out: list[tuple[int, int]] = []
    for m in minutes:
        if out and out[-1][1] == m and (m - out[-1][0]) // MINUTE_MS < cap:
            out[-1] = (out[-1][0], m + MINUTE_MS)
        else:
            out.append((m, m + MINUTE_MS))
    return out


class FinnhubSource(LiveSource):
    """Finnhub trades, heartbeats and REST gap fill as a streaming source; see the module."""

    name = "finnhub"
    origin = SOURCE_LIVE
    clocked = False
    market = "us"

    def __init__(
        self,
        settings: Any,
        symbols: Iterable[str],
        *,
        token: str | None = None,
        clock: Callable[[], int] = wall_ms,
        rest_sink: RestSink | None = None,
        on_touched: TouchedHook | None = None,
        margin_ms: int = 5_000,
        rng: random.Random | None = None,
        calendar: ExchangeCalendar | str | None = "XNYS",
        universe: Sequence[StockMeta] = (),
    ) -> None:
        self._token = token if token is not None else finnhub_token()
        self.symbols = parse_symbols(list(symbols))
        self._symbol_set = set(self.symbols)
        #: the sessions the bars are placed in (None: 24h buckets, ``--test``)
        self.calendar = get_calendar(calendar) if isinstance(calendar, str) else calendar
        known = {m.symbol: m for m in universe}
        self.universe = [
            known.get(s) or StockMeta(s, s, "us", "", 0.0, 0.0, 0.0, "XNYS") for s in self.symbols
        ]
        self.clock = clock
        self.rest_sink = rest_sink
        self.on_touched = on_touched
        self.margin_ms = margin_ms
        self.heartbeat_seconds = float(settings.finnhub_heartbeat_seconds)
        self.settle_ms = int(float(settings.finnhub_rest_settle_seconds) * 1000)
        self.backoff_base = float(settings.finnhub_backoff_base)
        self.backoff_max = float(settings.finnhub_backoff_max)
        self.rng = rng or random.Random()
        #: the market-hours gate (``QUANTDESK_FINNHUB_MARKET_HOURS``), None when off
        self.hours: ExchangeCalendar | None = (
            get_calendar("XNYS") if settings.finnhub_market_hours else None
        )
        self.client = FinnhubClient(
            settings.finnhub_ws_url,
            self._token,
            self.symbols,
            self,
            backoff_base=self.backoff_base,
            backoff_max=self.backoff_max,
            silence=float(settings.finnhub_silence_seconds),
            gate=self._gate if self.hours is not None else None,
            rng=self.rng,
        )
        self.candles = CandleClient(
            settings.finnhub_rest_url, self._token, timeout=float(settings.finnhub_rest_timeout)
        )
        #: minute starts touched by a gap (the same for every symbol)
        self.touched: set[int] = set()
        #: symbol -> touched minutes still waiting for their REST candle
        self.pending: dict[str, set[int]] = {s: set() for s in self.symbols}
        self.trades_published = 0
        self.replaced_trades = 0
        self.unknown_symbol_trades = 0
        self.heartbeats = 0
        self.rest_bars = 0
        self.rest_errors = 0
        self.rest_enabled = True
        self._gap_start: int | None = None
        self._last_frame: int | None = None
        self._resume_from: int | None = None
        self._filters: list[tuple[logging.Logger, RedactFilter]] = []
        self._queue: asyncio.Queue[TradeBatch | Heartbeat | None] | None = None
        self._sink: RestAwareSink | None = None

    # -- the live-source interface ------------------------------------------------

    @classmethod
    def open(cls, arg: str, ctx: SourceContext) -> FinnhubSource:
        no_argument(cls.name, arg)
        from quantdesk.universe import universe_for

        us = universe_for(ctx.settings, "us")
        symbols = list(ctx.symbols) or [m.symbol for m in us]
        return cls(
            ctx.settings,
            symbols,
            calendar=None if ctx.test_mode else "XNYS",
            universe=us,
        )

    def describe(self) -> str:
        return f"live Finnhub trades for {', '.join(self.symbols)}"

    def sink(self, store: Store) -> RestAwareSink:
        """The REST-aware sink: REST candles replace the minutes a gap touched."""
        from quantdesk.sources.finnhub.gaps import RestAwareSink

        sink = self._sink = RestAwareSink(store, self.calendar)

        async def write_rest(symbol: str, bars: list[Bar], minutes: list[int]) -> None:
            await asyncio.to_thread(sink.write_rest, symbol, bars, minutes)

        self.rest_sink = write_rest
        self.on_touched = sink.block
        if self.touched:
            sink.block(sorted(self.touched))
        return sink

    def snapshot(self) -> dict[str, Any]:
        """Now (wall), and the touched minutes still relevant: a restart treats everything
        since as a gap."""
        now = self.clock()
        keep = now - KEEP_TOUCHED_MS
        return {
            "until": now,
            "touched": sorted(m for m in self.touched if m >= keep),
            "pending": {s: sorted(p) for s, p in self.pending.items() if p},
            "rest_enabled": self.rest_enabled,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._resume_from = int(state["until"])
        if not state.get("rest_enabled", True):
            return
        restored = [int(m) for m in state.get("touched", [])]
        self.touched.update(restored)
        for symbol, minutes in state.get("pending", {}).items():
            if symbol in self.pending:
                self.pending[symbol].update(int(m) for m in minutes)
        if restored and self.on_touched is not None:
            self.on_touched(restored)

    async def stream(self, stop: asyncio.Event) -> AsyncIterator[list[TradeBatch | Heartbeat]]:
        """Trade batches and heartbeats as they arrive, until ``stop``."""
        queue = self._queue = asyncio.Queue(QUEUE_SIZE)

        async def produce() -> None:
            try:
                await self.run(stop)
            finally:
                await queue.put(None)

        task = asyncio.create_task(produce(), name="finnhub")
        try:
            done = False
            while not done:
                first = await queue.get()
                batch: list[TradeBatch | Heartbeat] = []
                item = first
                while True:
                    if item is None:
                        done = True
                        break
                    batch.append(item)
                    if queue.empty():
                        break
                    item = queue.get_nowait()
                if batch:
                    yield batch
        finally:
            stop.set()
            await task

    async def _emit(self, msg: TradeBatch | Heartbeat) -> None:
        if self._queue is not None:
            await self._queue.put(msg)

    # -- running -------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stream until ``stop`` is set (what :meth:`stream` drives)."""
        self._guard_logs()
        now = self.clock()
        # the current partial minute was not seen; after a restart, nothing since the
        # checkpoint was committed
        self._gap_start = now if self._resume_from is None else min(self._resume_from, now)
        tasks = [
            asyncio.create_task(self.client.run(stop), name="finnhub-ws"),
            asyncio.create_task(self._heartbeats(stop), name="finnhub-clock"),
            asyncio.create_task(self._fill_loop(stop), name="finnhub-rest"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                if t.exception() is not None:
                    stop.set()
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
            await self.candles.aclose()
            self._unguard_logs()

    def _guard_logs(self) -> None:
        for name in GUARDED_LOGGERS:
            logger = logging.getLogger(name)
            f = RedactFilter(self._token)
            logger.addFilter(f)
            self._filters.append((logger, f))

    def _unguard_logs(self) -> None:
        for logger, f in self._filters:
            logger.removeFilter(f)
        self._filters.clear()

    def _gate(self) -> float:
        """Seconds until the market opens (0 when open)."""
        assert self.hours is not None
        now = self.clock()
        if self.hours.is_open(now):
            return 0.0
        return max(0.001, (self.hours.next_open(now) - now) / 1000)

    # -- stream handler ----------------------------------------------------------

    async def on_connected(self) -> None:
        now = self.clock()
        start = self._gap_start if self._gap_start is not None else now
        self._mark(minutes_between(start - self.margin_ms, now + self.margin_ms))
        self._gap_start = None
        self._last_frame = now

    async def on_disconnected(self, reason: str) -> None:
        self._gap_start = self._last_frame if self._last_frame is not None else self.clock()

    async def on_frame(self) -> None:
        self._last_frame = self.clock()

    async def on_trades(self, trades: Trades) -> None:
        touched = self.touched
        for symbol, cols in trades.by_symbol.items():
            if symbol not in self._symbol_set:
                self.unknown_symbol_trades += len(cols.ts)
                continue
            ts = np.asarray(cols.ts, dtype=np.int64)
            price = np.asarray(cols.price, dtype=np.float64)
            size = np.asarray(cols.size, dtype=np.float64)
            if touched:
                keep = np.fromiter(
                    ((t // MINUTE_MS * MINUTE_MS) not in touched for t in cols.ts),
                    dtype=bool,
                    count=len(cols.ts),
                )
                if not keep.all():
                    self.replaced_trades += int((~keep).sum())
                    ts, price, size = ts[keep], price[keep], size[keep]
            if len(ts) == 0:
                continue
            if len(ts) > 1 and bool((np.diff(ts) < 0).any()):
                order = np.argsort(ts, kind="stable")
                ts, price, size = ts[order], price[order], size[order]
            await self._emit(TradeBatch(symbol, ts, price, size, SOURCE_LIVE))
            self.trades_published += len(ts)

    def _disable_rest(self, why: str) -> None:
        log.error(
            "finnhub: REST candles not available with this token (%s); gaps will not be "
            "filled, live trades are kept",
            redact(why, self._token),
        )
        self.rest_enabled = False
        self.touched.clear()
        for pending in self.pending.values():
            pending.clear()

    def _mark(self, minutes: list[int]) -> None:
        if not self.rest_enabled:
            return
        if self.hours is not None:
            cal = self.hours
            minutes = [m for m in minutes if cal.is_open(m) or cal.is_open(m + MINUTE_MS - 1)]
        new = [m for m in minutes if m not in self.touched]
        if not new:
            return
        self.touched.update(new)
        for pending in self.pending.values():
            pending.update(new)
        if self.on_touched is not None:
            self.on_touched(new)
        log.info("finnhub: %d minute(s) touched by a gap, will fill from REST", len(new))

    # -- heartbeats ------------------------------------------------------------

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = self.clock()
            for symbol in self.symbols:
                await self._emit(Heartbeat(symbol, now))
            self.heartbeats += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.heartbeat_seconds)

    # -- REST fill -------------------------------------------------------------

    async def _fill_loop(self, stop: asyncio.Event) -> None:
        if self.rest_sink is None:
            return  # no sink: nothing to write candles to
        attempt = 0
        poll = min(1.0, self.heartbeat_seconds)
        while not stop.is_set():
            try:
                await self.fill_ready()
                attempt = 0
                delay = poll
            except CandleFetchError as exc:
                self.rest_errors += 1
                if exc.permanent:
                    self._disable_rest(str(exc))
                    return
                delay = backoff_delay(attempt, self.backoff_base, self.backoff_max, self.rng)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, self.backoff_max))
                attempt += 1
                log.warning("finnhub: %s; retrying in %.2f s", redact(str(exc), self._token), delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def fill_ready(self) -> int:
        """Fetch every pending minute that has ended (plus the settle time); bars written."""
        cutoff = self.clock() - self.settle_ms
        written = 0
        for symbol in self.symbols:
            pending = self.pending[symbol]
            ready = sorted(m for m in pending if m + MINUTE_MS <= cutoff)
            for start, end in runs(ready):
                bars = await self.candles.fetch(symbol, start, end)
                wanted = set(range(start, end, MINUTE_MS))
                bars = [b for b in bars if b.time in wanted]
                if self.rest_sink is not None:
                    await self.rest_sink(symbol, bars, sorted(wanted))
                pending.difference_update(wanted)
                self.rest_bars += len(bars)
                written += len(bars)
        return written

    def stats(self) -> dict[str, Any]:
        c = self.client.stats
        return {
            "connects": c.connects,
            "connect_failures": c.connect_failures,
            "disconnects": dict(c.disconnects),
            "subscriptions_sent": c.subscriptions_sent,
            "frames": c.frames,
            "pings": c.pings,
            "server_errors": c.server_errors,
            "bad_frames": dict(c.bad_frames),
            "bad_entries": c.bad_entries,
            "trades_published": self.trades_published,
            "replaced_trades": self.replaced_trades,
            "unknown_symbol_trades": self.unknown_symbol_trades,
            "touched_minutes": len(self.touched),
            "pending_minutes": sum(len(p) for p in self.pending.values()),
            "rest_bars": self.rest_bars,
            "rest_requests": self.candles.requests,
            "rest_errors": self.rest_errors,
            "rest_enabled": self.rest_enabled,
        }
