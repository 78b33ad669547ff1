"""History backfill: N trading days of simulated 1m bars plus every aggregate.

The simulator generates whole trading days (weekends and holidays skipped by
the exchange calendar), the 1m bars are rolled up to 5m ... 1d with the same
session-anchored rules as the streaming path, and everything is upserted, so
running a backfill twice never duplicates a bar. Last, the weeks and months
the window touches (``1w``, ``1M``) are rolled up from every stored 1d bar in
them (:mod:`quantdesk.backfill.periods`), so a window that starts mid-month
extends the stored month instead of replacing it.

The window ends at the last *completed* trading day in exchange time
(``days``), or is the trading days between two dates (``start`` and ``end``,
seed A's dated download: :func:`dated_window`). Days
are generated in chunks of :data:`CHUNK_DAYS` (the chunking is fixed, so the
same ``--days`` and seed always give the same bars). The simulator state at
the end of the window is stored unless a later state is already stored (a
live run that went further must not be rewound).

**Stored history is never rewritten** (only ``clear`` replaces it). Per
symbol (:func:`plan_continuation`):

==============================  ===============================================
what the store holds            what a backfill does
==============================  ===============================================
no bars                         simulates the window from the base price
bars, and a simulator state     continues the stored path from its state
at or after the last bar        (``stock_state``): only the minutes after it
                                are simulated (the rest of a partly stored
                                day, then the later days); days already
                                stored are left as they are
bars, and the window starts     refuses (one line naming ``--clear``): days
before the first stored day     before a stored history cannot be added
                                without a different path into it
bars, no state continuing them  nothing when the window ends within them;
(imported, real or SIGKILLed)   otherwise refuses (one line naming ``--clear``)
==============================  ===============================================

The roll-ups of a partly stored day are computed from all of its 1m bars
(the stored ones and the new ones), so every 5m ... 1d bar still equals the
aggregate of its 1m bars. Real providers (``source`` below) likewise only
add the bars that are not stored yet, and refuse when the stored ones in the
window come from another source.

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
from quantdesk.domain import BAR_COLUMNS, SESSION_INTERVALS, StockMeta, StockState
from quantdesk.domain.symbols import resolve_symbol, spellings
from quantdesk.errors import DataError, HistoryConflictError, NotFoundError
from quantdesk.runtime.checkpoint import GROUP as RUN_GROUP
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
    #: symbols whose stored path was continued (from their stored state)
    continued: int = 0
    #: symbols that already held every day of the window (nothing written)
    up_to_date: int = 0


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


def dated_window(
    calendar: ExchangeCalendar,
    start: dt.date,
    end: dt.date | None = None,
    now: dt.datetime | None = None,
) -> list[dt.date]:
    """The trading days of ``[start, end]`` (both inclusive; ``end`` default: the last
    completed trading day), checked: one-line :class:`DataError` for an end before
    the start, an end in the future, dates outside the calendar or a range without a
    trading day. A day still trading at ``now`` is left out (it is not history yet)."""
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(calendar.tz).date()
    if end is not None and end < start:
        raise DataError(f"--end: {end} is before --start {start}")
    if end is not None and end > today:
        raise DataError(f"--end: {end} is in the future (today is {today} in {calendar.name})")
    if start > today:
        raise DataError(f"--start: {start} is in the future (today is {today} in {calendar.name})")
    first, last = calendar.days[0], calendar.days[-1]
    if start < first:
        raise DataError(f"--start: {start} is before the {calendar.name} calendar ({first} on)")
    completed = backfill_window(calendar, 1, now)
    stop = min(end or today, completed[-1] if completed else last)
    days = calendar.trading_days(start, stop) if stop >= start else []
    if not days:
        raise DataError(
            f"no completed trading day from {start} to {end or today} ({calendar.name})"
        )
    return days


def parse_day(text: str, option: str) -> dt.date:
    """``YYYY-MM-DD`` (or ``YYYYMMDD``) as a date; else a one-line DataError naming the option."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise DataError(f"{option}: not a date YYYY-MM-DD (got {text[:40]!r})") from None


def select_universe(
    settings: Settings, market: str, symbol: str | Sequence[str] | None
) -> list[StockMeta]:
    """The market's universe, or just ``symbol`` (one or several: each must belong to it)."""
    universe = universe_for(settings, market)
    if symbol is None:
        return universe
    names = [m.symbol for m in universe]
    wanted: list[str] = []
    for one in [symbol] if isinstance(symbol, str) else symbol:
        try:
            key = resolve_symbol(one, names, hint="see quantdesk universe")
        except NotFoundError as exc:
            raise NotFoundError(f"{exc} (market {market})") from None
        if key not in wanted:
            wanted.append(key)
    by_name = {m.symbol: m for m in universe}
    return [by_name[k] for k in wanted]


def run_backfill(
    store: Store,
    settings: Settings,
    *,
    days: int,
    market: str | None = None,
    symbol: str | Sequence[str] | None = None,
    clear: bool = False,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    source: str = "simulator",
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> BackfillReport:
    """Generate (or fetch, see ``source``) and store ``days`` trading days of bars, or
    (with ``start``) the trading days of ``[start, end]`` (:func:`dated_window`).
    ``symbol``: one symbol or several (default: the market's universe)."""
    started = time.perf_counter()
    market = market or settings.market
    calendar = get_calendar(market)
    if start is not None:
        window = dated_window(calendar, start, end, now)
    elif end is not None:
        raise DataError("--end: give --start too (or --days N for the last N trading days)")
    else:
        window = backfill_window(calendar, days, now)
    if source != "simulator":
        return _backfill_from_history(
            store, settings, calendar, window, market, symbol, clear, progress, source, started
        )
    universe = select_universe(settings, market, symbol)
    if clear:
        groups = [Continuation(list(universe))]
    else:  # refuses before anything is written
        groups = plan_continuation(store, universe, calendar, window)
    store.upsert_metadata(universe)
    if clear:
        for meta in universe:
            store.delete_bars(meta.symbol)
        store.delete_checkpoints(RUN_GROUP)  # the run's resume point was in the old bars
    bars_1m = bars_total = 0
    params = SimulatorParams.from_settings(settings)
    for group in groups:
        if group.up_to_date:
            continue
        added_1m, added, states = simulate_into(
            store,
            group.metas,
            calendar,
            window,
            seed=settings.seed,
            params=params,
            states=group.states,
            progress=progress,
            rollup_prefix=group.prefix,
        )
        bars_1m += added_1m
        bars_total += added
        if states:
            _save_newer_states(store, states, clear or group.states is None)
    return BackfillReport(
        symbols=len(universe),
        days=len(window),
        first_day=window[0] if window else None,
        last_day=window[-1] if window else None,
        bars_1m=bars_1m,
        bars_total=bars_total,
        seconds=time.perf_counter() - started,
        continued=sum(len(g.metas) for g in groups if g.states is not None and not g.up_to_date),
        up_to_date=sum(len(g.metas) for g in groups if g.up_to_date),
    )


@dataclass
class Continuation:
    """Symbols simulated together: from scratch (``states`` None) or from their stored state."""

    metas: list[StockMeta]
    states: dict[str, StockState] | None = None
    #: stored 1m bars of a partly stored day, rolled up with the new ones
    prefix: pd.DataFrame | None = None
    #: every day of the window is stored already: nothing to simulate
    up_to_date: bool = False


def plan_continuation(
    store: Store,
    universe: Sequence[StockMeta],
    calendar: ExchangeCalendar,
    window: Sequence[dt.date],
) -> list[Continuation]:
    """How to backfill ``window`` without rewriting a stored bar (see the module docstring).

    Raises :class:`~quantdesk.errors.HistoryConflictError` (one line naming
    ``--clear``) when that is impossible for a symbol; nothing is written then.
    """
    if not window:
        return []
    window_start = calendar.day_segments(window[0])[0][0]
    window_end = calendar.day_segments(window[-1])[-1][1]
    stored_states = store.load_states()
    fresh: list[StockMeta] = []
    done: list[StockMeta] = []
    by_state: dict[int, list[StockMeta]] = {}
    for meta in universe:
        sym = meta.symbol
        last = store.last_bar_time("1m", sym)
        if last is None:
            fresh.append(meta)
            continue
        if not store.query_bars(sym, "1m", None, window_start + 1, 1):
            days = store.query_bars(sym, "1d", None, None, None)
            first = days[0][2] if days else last
            raise HistoryConflictError(
                f"{sym}: stored bars start on {calendar.date_of(first)}; backfilling from "
                f"{window[0]} would put a different history before them: use --clear to "
                "replace the stored bars (or ask for fewer --days)"
            )
        state = stored_states.get(sym)
        if state is not None and state.time >= last:
            by_state.setdefault(int(state.time), []).append(meta)
        elif last + 60_000 >= window_end or calendar.date_of(last) >= window[-1]:
            done.append(meta)
        else:
            raise HistoryConflictError(
                f"{sym}: no simulator state continues its stored bars (they end at "
                f"{_local(calendar, last)}): use --clear to replace them with a simulated history"
            )
    groups: list[Continuation] = []
    if fresh:
        groups.append(Continuation(fresh))
    if done:
        groups.append(Continuation(done, up_to_date=True))
    for t, metas in sorted(by_state.items()):
        states = {m.symbol: stored_states[m.symbol] for m in metas}
        if t + 60_000 >= window_end:
            groups.append(Continuation(metas, states, up_to_date=True))
            continue
        groups.append(Continuation(metas, states, _partial_day(store, metas, calendar, t)))
    return groups


def _partial_day(
    store: Store, metas: Sequence[StockMeta], calendar: ExchangeCalendar, t: int
) -> pd.DataFrame | None:
    """The stored 1m bars of the day of minute ``t`` up to ``t``, when that day goes on after."""
    segments = calendar.day_segments(calendar.date_of(t))
    if not segments or t + 60_000 >= segments[-1][1]:
        return None
    rows = [
        row for m in metas for row in store.query_bars(m.symbol, "1m", segments[0][0], t + 1, None)
    ]
    return pd.DataFrame(rows, columns=list(BAR_COLUMNS)) if rows else None


def _local(calendar: ExchangeCalendar, t_ms: int) -> str:
    local = dt.datetime.fromtimestamp(t_ms / 1000, tz=calendar.tz)
    return f"{local:%Y-%m-%d %H:%M} {calendar.tz.key}"


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
    rollup_prefix: pd.DataFrame | None = None,
) -> tuple[int, int, dict[str, StockState]]:
    """Simulate ``days`` (1m bars plus every roll-up) into ``store``.

    Days are generated :data:`CHUNK_DAYS` at a time. Whole months are
    written as soon as they are complete (the next chunk starts in a later
    month), in key order and at least :data:`WRITE_ROWS` rows at a time if
    that many are complete, by a second thread while the next chunk is
    generated. Whole months in key order append to each (symbol, interval)
    range, and on PostgreSQL they take the bulk path for new months. Returns
    ``(1m bars, all bars, final states)``. ``rollup_prefix`` (stored 1m bars
    of a partly stored first day) joins the first chunk's roll-up only.
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
            if not len(minute_bars):  # every day of the chunk is stored already
                rolling = None
                if progress is not None:
                    progress(done, steps)
                continue
            to_roll = minute_bars
            if rollup_prefix is not None:  # the first new minutes: their day's stored start
                to_roll = pd.concat([rollup_prefix, minute_bars], ignore_index=True)
                rollup_prefix = None
            rolling = roller.submit(rollup_bars, to_roll, SESSION_INTERVALS, calendar=calendar)
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


def _missing_only(
    store: Store, sym: str, minute: pd.DataFrame, start: int, end: int
) -> pd.DataFrame:
    """The fetched 1m bars whose time is not stored yet (stored ones are never replaced)."""
    stored = {int(r[2]) for r in store.query_bars(sym, "1m", start, end, None)}
    if not stored:
        return minute
    keep = ~minute["time"].astype("int64").isin(stored)
    return minute[keep].reset_index(drop=True)


def _with_stored_days(
    store: Store, sym: str, minute: pd.DataFrame, calendar: ExchangeCalendar
) -> pd.DataFrame:
    """``minute`` plus the stored 1m bars of the days it touches: roll-ups see whole days."""
    times = minute["time"].to_numpy(dtype=np.int64)
    first = calendar.day_segments(calendar.date_of(int(times.min())))
    last = calendar.day_segments(calendar.date_of(int(times.max())))
    if not first or not last:
        return minute
    rows = store.query_bars(sym, "1m", first[0][0], last[-1][1], None)
    if not rows:
        return minute
    stored = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
    return pd.concat([stored[list(minute.columns)], minute], ignore_index=True)


def _backfill_from_history(
    store: Store,
    settings: Settings,
    calendar: ExchangeCalendar,
    window: list[dt.date],
    market: str,
    symbol: str | Sequence[str] | None,
    clear: bool,
    progress: Progress | None,
    source: str,
    started: float,
) -> BackfillReport:
    from quantdesk.sources.history import HistoryRouter, NoHistoryError

    universe = universe_for(settings, market)
    if symbol is not None:  # universe stocks, or any symbols a provider may know
        symbols = []
        for one in [symbol] if isinstance(symbol, str) else symbol:
            try:
                wanted = resolve_symbol(one, [m.symbol for m in universe])
            except NotFoundError:
                wanted = spellings(one)[0]
            if wanted not in symbols:
                symbols.append(wanted)
        universe = [m for m in universe if m.symbol in symbols]
    else:
        symbols = [m.symbol for m in universe]
    if universe:
        store.upsert_metadata(universe)
    if not window:
        return BackfillReport(len(symbols), 0, None, None, 0, 0, 0.0, source)
    start = calendar.day_segments(window[0])[0][0]
    end = calendar.day_segments(window[-1])[-1][1]
    stored_sources: dict[str, set[str]] = {}
    if not clear:  # refuse before fetching anything: simulated or imported bars in the window
        for sym in symbols:
            rows = store.query_bars(sym, "1m", start, end, None)
            stored_sources[sym] = {str(r[10]) for r in rows}
            foreign = sorted(s for s in stored_sources[sym] if s == "simulator" or ":" in s)
            if foreign:
                raise HistoryConflictError(
                    f"{sym}: the store holds {foreign[0]} bars between {window[0]} and "
                    f"{window[-1]}; real history would be mixed into them: use --clear to "
                    "replace them"
                )
    names = None if source == "auto" else [source]
    if clear:
        store.delete_checkpoints(RUN_GROUP)  # the run's resume point was in the old bars
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
            else:
                other = stored_sources.get(sym, set()) - {result.provider}
                if other:
                    failures.append(
                        f"{sym}: {result.provider} answered, but the stored bars come from "
                        f"{', '.join(sorted(other))}: left as stored (--clear replaces them, "
                        f"--source {sorted(other)[0]} adds to them)"
                    )
                    continue
                minute = _missing_only(store, sym, minute, start, end)
                if minute.empty:
                    providers[sym] = result.provider
                    continue
            larger = rollup_bars(
                _with_stored_days(store, sym, minute, calendar),
                SESSION_INTERVALS,
                calendar=calendar,
            )
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
