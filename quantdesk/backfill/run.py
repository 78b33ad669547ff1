"""History backfill: N trading days of simulated 1m bars plus every aggregate.

The simulator generates whole trading days (weekends and holidays skipped by
the exchange calendar), the 1m bars are rolled up to 5m ... 1d with the same
session-anchored rules as the streaming path, and everything is upserted, so
running a backfill twice never duplicates a bar. Last, the weeks and months
the window touches (``1w``, ``1M``) are rolled up from every stored 1d bar in
them (:mod:`quantdesk.backfill.periods`), so a window that starts mid-month
extends the stored month instead of replacing it.

The window ends at the last *completed* trading day in exchange time. Days
are generated in chunks of :data:`CHUNK_DAYS` (the chunking is fixed, so the
same ``--days`` and seed always give the same bars). The simulator state at
the end of the window is stored unless a later state is already stored (a
live run that went further must not be rewound).

With ``source`` other than ``simulator`` the 1m bars come from real history
providers instead (``auto``: the failover router over
``QUANTDESK_HISTORY_SOURCES``; a name: that provider alone, see
:mod:`quantdesk.sources.history`), are rolled up the same way and stored with
the provider's name in ``source``. A symbol no provider can answer is
reported in :attr:`BackfillReport.failures`; the others are still stored.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantdesk.backfill.periods import refresh_periods
from quantdesk.bars import rollup_bars
from quantdesk.calendars import ExchangeCalendar, get_calendar
from quantdesk.config import Settings
from quantdesk.domain import SESSION_INTERVALS, StockMeta, StockState
from quantdesk.errors import NotFoundError
from quantdesk.sources.simulator import SimulatorParams, generate_history
from quantdesk.storage.base import Store
from quantdesk.universe import universe_for

CHUNK_DAYS = 40
#: Complete months are written once at least this many rows wait (fewer, larger
#: upserts when the universe is small).
WRITE_ROWS = 1_000_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BackfillReport:
    """What a backfill did."""

    symbols: int
    days: int
    first_day: dt.date | None
    last_day: dt.date | None
    bars_1m: int
    bars_total: int
    seconds: float
    source: str = "simulator"
    #: symbol -> provider that answered (real sources only)
    providers: dict[str, str] = field(default_factory=dict)
    #: "symbol: reasons" for each symbol no provider could answer
    failures: tuple[str, ...] = ()


def backfill_window(
    calendar: ExchangeCalendar, days: int, now: dt.datetime | None = None
) -> list[dt.date]:
    """The last ``days`` completed trading days at ``now`` (default: the current time)."""
    if days <= 0:
        return []
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(calendar.tz).date()
    segments = calendar.day_segments(today)
    done_today = bool(segments) and now.timestamp() * 1000 >= segments[-1][1]
    before = today + dt.timedelta(days=1) if done_today else today
    return calendar.last_trading_days(days, before)


def select_universe(settings: Settings, market: str, symbol: str | None) -> list[StockMeta]:
    """The market's universe, or just ``symbol`` (which must belong to it)."""
    universe = universe_for(settings, market)
    if symbol is None:
        return universe
    chosen = [m for m in universe if m.symbol.upper() == symbol.upper()]
    if not chosen:
        known = ", ".join(m.symbol for m in universe)
        raise NotFoundError(f"unknown symbol {symbol!r} for market {market}: use one of {known}")
    return chosen


def run_backfill(
    store: Store,
    settings: Settings,
    *,
    days: int,
    market: str | None = None,
    symbol: str | None = None,
    clear: bool = False,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    source: str = "simulator",
) -> BackfillReport:
    """Generate (or fetch, see ``source``) and store ``days`` trading days of bars."""
    started = time.perf_counter()
    market = market or settings.market
    calendar = get_calendar(market)
    window = backfill_window(calendar, days, now)
    if source != "simulator":
        return _backfill_from_history(
            store, settings, calendar, window, market, symbol, clear, progress, source, started
        )
    universe = select_universe(settings, market, symbol)
    store.upsert_metadata(universe)
    if clear:
        for meta in universe:
            store.delete_bars(meta.symbol)
    bars_1m, bars_total, states = simulate_into(
        store,
        universe,
        calendar,
        window,
        seed=settings.seed,
        params=SimulatorParams.from_settings(settings),
        progress=progress,
    )
    if states:
        _save_newer_states(store, states, clear)
    return BackfillReport(
        symbols=len(universe),
        days=len(window),
        first_day=window[0] if window else None,
        last_day=window[-1] if window else None,
        bars_1m=bars_1m,
        bars_total=bars_total,
        seconds=time.perf_counter() - started,
    )


def simulate_into(
    store: Store,
    universe: Sequence[StockMeta],
    calendar: ExchangeCalendar,
    days: Sequence[dt.date],
    *,
    seed: int,
    params: SimulatorParams,
    states: dict[str, StockState] | None = None,
    progress: Progress | None = None,
) -> tuple[int, int, dict[str, StockState]]:
    """Simulate ``days`` (1m bars plus every roll-up) into ``store``.

    Days are generated :data:`CHUNK_DAYS` at a time. Whole months are
    written as soon as they are complete (the next chunk starts in a later
    month), in key order and at least :data:`WRITE_ROWS` rows at a time if
    that many are complete, by a second thread while the next chunk is
    generated. Whole months in key order append to each (symbol, interval)
    range, and on PostgreSQL they take the bulk path for new months. Returns
    ``(1m bars, all bars, final states)``.
    """
    chunks = [list(days[i : i + CHUNK_DAYS]) for i in range(0, len(days), CHUNK_DAYS)]
    steps = len(chunks) + 1
    pending: list[pd.DataFrame] = []
    bars_1m = bars_total = 0
    out_states: dict[str, StockState] = dict(states or {})

    # The roll-up of one chunk and the write of the complete months run on two
    # more threads while the next chunk is generated (NumPy, SQLite and libpq
    # release the GIL); one write at a time, in month order.
    with ThreadPoolExecutor(max_workers=1) as roller, ThreadPoolExecutor(max_workers=1) as writer:
        rolling: Future[pd.DataFrame] | None = None
        writing: Future[int] | None = None

        def write(upto: int | None) -> None:
            """Hand the pending rows before ``upto`` (epoch ms; None: all) to the writer."""
            nonlocal pending, writing
            ready, pending = _split(pending, upto)
            if not ready or (upto is not None and sum(map(len, ready)) < WRITE_ROWS):
                pending = ready + pending
                return
            if writing is not None:
                writing.result()
            writing = writer.submit(store.upsert_bars, _key_ordered(ready))

        for done, chunk in enumerate(chunks, start=1):
            minute_bars, out_states = generate_history(
                universe, calendar, chunk, seed, states=out_states or None, params=params
            )
            if rolling is not None:
                pending.append(rolling.result())
                bars_total += len(pending[-1])
            rolling = roller.submit(rollup_bars, minute_bars, SESSION_INTERVALS, calendar=calendar)
            if len(minute_bars):
                write(_month_floor(int(minute_bars["time"].min())))
            pending.append(minute_bars)
            bars_1m += len(minute_bars)
            bars_total += len(minute_bars)
            if progress is not None:
                progress(done, steps)
        if rolling is not None:
            pending.append(rolling.result())
            bars_total += len(pending[-1])
        write(None)
        if writing is not None:
            writing.result()
    if days:
        bars_total += refresh_periods(
            store,
            [m.symbol for m in universe],
            calendar.day_segments(days[0])[0][0],
            calendar.day_segments(days[-1])[-1][1],
            calendar,
        )
    if progress is not None:
        progress(steps, steps)
    return bars_1m, bars_total, out_states


def _month_floor(ms: int) -> int:
    """The start (epoch ms, UTC) of the month holding ``ms``."""
    return int(
        np.datetime64(ms, "ms").astype("datetime64[M]").astype("datetime64[ms]").astype(np.int64)
    )


def _split(
    frames: list[pd.DataFrame], upto: int | None
) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """``frames`` cut into the rows before ``upto`` (None: all) and the rest."""
    if upto is None:
        return [f for f in frames if len(f)], []
    before: list[pd.DataFrame] = []
    after: list[pd.DataFrame] = []
    for frame in frames:
        early = frame["time"].to_numpy(dtype=np.int64) < upto
        if early.all():
            before.append(frame)
        elif early.any():
            before.append(frame[early])
            after.append(frame[~early])
        elif len(frame):
            after.append(frame)
    return before, after


def _key_ordered(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``frames`` as one frame in key order (symbol, interval, time).

    Each frame holds every (symbol, interval) in time order, and a later frame
    holds later times; so a stable sort by (symbol, interval) alone is the
    key order (a radix sort of one small integer: the store then finds the
    frame sorted and skips its own three-column sort).
    """
    frame = pd.concat(frames, ignore_index=True)
    sym, _ = pd.factorize(frame["symbol"], sort=True)
    ivl, ivl_names = pd.factorize(frame["interval"], sort=True)
    pair = sym.astype(np.int64) * max(1, len(ivl_names)) + ivl
    if len(pair) and int(pair.max()) < 2**15:
        pair = pair.astype(np.int16)  # NumPy's stable sort is a radix sort up to 16 bits
    return frame.take(np.argsort(pair, kind="stable")).reset_index(drop=True)


def _save_newer_states(store: Store, states: dict[str, StockState], clear: bool) -> None:
    stored = {} if clear else store.load_states()
    newer = [s for sym, s in states.items() if sym not in stored or stored[sym].time < s.time]
    if newer:
        store.save_states(newer)


def _backfill_from_history(
    store: Store,
    settings: Settings,
    calendar: ExchangeCalendar,
    window: list[dt.date],
    market: str,
    symbol: str | None,
    clear: bool,
    progress: Progress | None,
    source: str,
    started: float,
) -> BackfillReport:
    from quantdesk.sources.history import HistoryRouter, NoHistoryError

    universe = universe_for(settings, market)
    if symbol is not None:
        known = [m for m in universe if m.symbol.upper() == symbol.upper()]
        symbols = [known[0].symbol] if known else [symbol]
        universe = known
    else:
        symbols = [m.symbol for m in universe]
    if universe:
        store.upsert_metadata(universe)
    if not window:
        return BackfillReport(len(symbols), 0, None, None, 0, 0, 0.0, source)
    start = calendar.day_segments(window[0])[0][0]
    end = calendar.day_segments(window[-1])[-1][1]
    names = None if source == "auto" else [source]
    bars_1m = bars_total = 0
    providers: dict[str, str] = {}
    failures: list[str] = []
    with HistoryRouter.from_settings(settings, names) as router:
        for done, sym in enumerate(symbols, start=1):
            try:
                result = router.fetch(sym, "1m", start, end)
            except NoHistoryError as exc:
                failures.append(f"{sym}: " + "; ".join(f"{p}: {r}" for p, r in exc.attempts))
                continue
            minute = result.bars.assign(symbol=sym)
            if clear:
                store.delete_bars(sym)
            larger = rollup_bars(minute, SESSION_INTERVALS, calendar=calendar)
            frame = pd.concat([minute, larger[list(minute.columns)]], ignore_index=True)
            store.upsert_bars(frame)
            if len(minute):
                times = minute["time"].to_numpy(dtype=np.int64)
                refresh_periods(store, [sym], int(times.min()), int(times.max()) + 1, calendar)
            providers[sym] = result.provider
            bars_1m += len(minute)
            bars_total += len(frame)
            if progress is not None:
                progress(done, len(symbols))
    return BackfillReport(
        symbols=len(symbols),
        days=len(window),
        first_day=window[0],
        last_day=window[-1],
        bars_1m=bars_1m,
        bars_total=bars_total,
        seconds=time.perf_counter() - started,
        source=source,
        providers=providers,
        failures=tuple(failures),
    )
