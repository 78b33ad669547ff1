"""Failover across history providers (seed C): priority order, timeouts, validation.

:class:`HistoryRouter` asks each provider in turn (skipping those that do not
serve the symbol's market or the interval), validates the answer with
:func:`validate_bars`, and returns the first good one. Every failure is logged
as one line on the ``quantdesk.history`` logger, with provider and reason::

    history: akshare failed for 600036.SH 1m: timeout after 5 s
    history: yahoo failed for 600036.SH 1m: bad answer: high < low at 2024-01-02T01:31:00Z

If every provider fails, :class:`NoHistoryError` lists each reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantdesk.config import Settings
from quantdesk.domain import normalize_interval
from quantdesk.domain.time import iso
from quantdesk.errors import NoHistoryError as NoHistoryError
from quantdesk.errors import QuantdeskError
from quantdesk.sources.history.base import (
    DEFAULT_ORDER,
    HistoryProvider,
    ProviderError,
    create_provider,
)

log = logging.getLogger("quantdesk.history")

#: Default "absurd jump": a close-to-close move of more than 50 % bar to bar.
MAX_JUMP = 0.5


def validate_bars(bars: pd.DataFrame, max_jump: float = MAX_JUMP) -> str | None:
    """None if ``bars`` is a usable answer, else the first problem found (one line).

    Checks: not empty; time strictly increasing; prices finite and > 0;
    ``low <= open, close <= high``; volume >= 0; no close-to-close move above
    ``max_jump`` (a fraction).
    """
    if bars is None or len(bars) == 0:
        return "empty answer"
    t = bars["time"].to_numpy(dtype=np.int64)
    back = np.flatnonzero(t[1:] <= t[:-1])
    if len(back):
        return f"time not strictly increasing at {iso(int(t[back[0] + 1]))}"
    o, h, low, c, v = (
        bars[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close", "volume")
    )
    prices = np.stack([o, h, low, c])
    bad = np.flatnonzero(~np.isfinite(prices).all(axis=0) | (prices <= 0).any(axis=0))
    if len(bad):
        return f"non-positive or missing price at {iso(int(t[bad[0]]))}"
    checks = (
        (h < low, "high < low"),
        ((o < low) | (o > h), "open outside [low, high]"),
        ((c < low) | (c > h), "close outside [low, high]"),
        (~np.isfinite(v) | (v < 0), "negative or missing volume"),
    )
    for mask, what in checks:
        idx = np.flatnonzero(mask)
        if len(idx):
            return f"{what} at {iso(int(t[idx[0]]))}"
    if len(c) > 1:
        jump = np.abs(c[1:] / c[:-1] - 1.0)
        idx = np.flatnonzero(jump > max_jump)
        if len(idx):
            i = int(idx[0]) + 1
            return f"absurd jump {jump[i - 1]:.0%} bar to bar at {iso(int(t[i]))}"
    return None


@dataclass
class FetchResult:
    """The chosen answer and why each earlier provider was passed over."""

    bars: pd.DataFrame
    provider: str
    attempts: list[tuple[str, str]] = field(default_factory=list)


class HistoryRouter:
    """Try providers in priority order; the first valid answer wins."""

    def __init__(self, providers: Sequence[HistoryProvider], *, max_jump: float = MAX_JUMP):
        self.providers = list(providers)
        self.max_jump = max_jump

    @classmethod
    def from_settings(cls, settings: Settings, names: Sequence[str] | None = None) -> HistoryRouter:
        chosen = list(names) if names else _order(settings.history_sources)
        return cls(
            [create_provider(n, settings) for n in chosen], max_jump=settings.history_max_jump
        )

    def fetch(self, symbol: str, interval: str, start: int, end: int) -> FetchResult:
        """Bars of ``symbol`` in ``[start, end)`` from the first provider with a valid answer."""
        interval = normalize_interval(interval)
        attempts: list[tuple[str, str]] = []
        for provider in self.providers:
            reason = provider.supports(symbol, interval)
            if reason is not None:
                attempts.append((provider.name, f"skipped: {reason}"))
                log.debug(
                    "history: %s skipped for %s %s: %s", provider.name, symbol, interval, reason
                )
                continue
            try:
                with provider.budget():
                    bars = provider.fetch(symbol, interval, start, end)
            except ProviderError as exc:
                reason = exc.reason
            except QuantdeskError as exc:
                reason = str(exc)
            except Exception as exc:  # a provider bug must not stop the failover
                reason = f"unexpected {type(exc).__name__}: {exc}"
            else:
                problem = validate_bars(bars, self.max_jump)
                if problem is None:
                    bars = bars.assign(source=provider.name)
                    return FetchResult(bars, provider.name, attempts)
                reason = f"bad answer: {problem}"
            attempts.append((provider.name, reason))
            log.warning("history: %s failed for %s %s: %s", provider.name, symbol, interval, reason)
        raise NoHistoryError(symbol, interval, attempts)

    def close(self) -> None:
        for provider in self.providers:
            provider.close()

    def __enter__(self) -> HistoryRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _order(text: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    return names or list(DEFAULT_ORDER)
