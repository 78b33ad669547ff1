"""Fast history: 1-minute bars for a universe over many days, vectorised with NumPy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from quantdesk.calendars.sessions import ALIASES, ExchangeCalendar
from quantdesk.domain.messages import BAR_COLUMNS, StockMeta, StockState
from quantdesk.errors import DataError
from quantdesk.sources.simulator.model import (
    Block,
    Stocks,
    block_rng,
    simulate_block,
    start_from_states,
    to_states,
)
from quantdesk.sources.simulator.params import SimulatorParams
from quantdesk.sources.simulator.timeline import (
    BlockMinutes,
    SessionTimeline,
    day_minutes,
    minutes_per_day,
)

SOURCE = "simulator"


def check_calendar(universe: Sequence[StockMeta], calendar: ExchangeCalendar) -> None:
    """Raise :class:`DataError` when a stock trades on another calendar."""
    for m in universe:
        name = m.calendar.upper()
        if ALIASES.get(name, name) != calendar.name:
            raise DataError(
                f"stock {m.symbol} trades on calendar {m.calendar}, not {calendar.name}: "
                "simulate one calendar's stocks at a time"
            )


def year_fraction(calendar: ExchangeCalendar, params: SimulatorParams) -> float:
    """dt of one minute in years: ``1 / (252 * session minutes per day)``."""
    return 1.0 / (params.trading_days_per_year * minutes_per_day(calendar))


def _latest(symbols: Sequence[str], states: Mapping[str, StockState] | None) -> int | None:
    """The newest stored ``time`` among ``symbols`` (None without states)."""
    given = [states[s].time for s in symbols if states and s in states]
    return max(given) if given else None


def plan(
    calendar: ExchangeCalendar, days: Sequence[dt.date], after: int | None
) -> list[BlockMinutes]:
    """One block per trading day in ``days`` (sorted), minutes after ``after`` only."""
    blocks = (day_minutes(calendar, day, after) for day in sorted(set(days)))
    return [b for b in blocks if len(b)]


def run_blocks(
    universe: Sequence[StockMeta],
    calendar: ExchangeCalendar,
    days: Sequence[dt.date],
    seed: int,
    states: Mapping[str, StockState] | None,
    params: SimulatorParams | None,
    on_block: Callable[[Block], None],
) -> tuple[Stocks, dict[str, StockState]]:
    """Simulate one block per trading day, hand each to ``on_block``; return the end states."""
    params = params or SimulatorParams()
    check_calendar(universe, calendar)
    stocks = Stocks.from_metas(universe, params)
    start, seq = start_from_states(stocks, states, seed, params)
    after = _latest(stocks.symbols, states)
    dt_year = year_fraction(calendar, params)
    last: int | None = None
    for minutes in plan(calendar, days, after):
        rng = block_rng(seed, int(minutes.times[0]), 0)
        block = simulate_block(stocks, start, minutes, rng, params, dt_year)
        on_block(block)
        start = block.state_after(len(minutes) - 1)
        last = int(minutes.times[-1])
    if last is not None:
        times = np.full(len(stocks), last, dtype=np.int64)
    else:
        fallback = -60_000 if after is None else after
        times = np.array(
            [states[s].time if states and s in states else fallback for s in stocks.symbols],
            dtype=np.int64,
        )
    return stocks, to_states(stocks, start, times, seq, SessionTimeline(calendar), params)


def generate_history(
    universe: Sequence[StockMeta],
    calendar: ExchangeCalendar,
    days: Sequence[dt.date],
    seed: int,
    states: Mapping[str, StockState] | None = None,
    params: SimulatorParams | None = None,
) -> tuple[pd.DataFrame, dict[str, StockState]]:
    """1-minute bars of ``universe`` on the trading ``days`` of ``calendar``, and end states.

    Days without a session are skipped. With ``states``, the simulation
    continues from them (price, regime, countdown) and only minutes after the
    latest stored ``time`` are generated. Rows are ordered by time, then by
    universe order; columns are :data:`quantdesk.domain.BAR_COLUMNS`.
    """
    params = params or SimulatorParams()
    n_sym = len(universe)
    after = _latest([m.symbol for m in universe], states)
    planned = [b.times for b in plan(calendar, days, after)]
    times = np.concatenate(planned) if planned else np.empty(0, dtype=np.int64)
    n = len(times) * n_sym
    floats = np.empty((len(_FLOATS), n), dtype=np.float64)
    trades = np.empty(n, dtype=np.int64)
    row = 0

    def keep(block: Block) -> None:
        nonlocal row
        stop = row + block.open.size
        for i, name in enumerate(_FLOATS):
            floats[i, row:stop] = getattr(block, name).reshape(-1)
        trades[row:stop] = block.trades.reshape(-1)
        row = stop

    stocks, end = run_blocks(universe, calendar, days, seed, states, params, keep)
    assert row == n, "history plan and simulation disagree"
    # one float block, shared with ``floats`` (no consolidation copy)
    df = pd.DataFrame(floats.T, columns=list(_FLOATS), copy=False)
    df["symbol"] = _strings(stocks.symbols, len(times))
    df["interval"] = _strings(("1m",), n)
    df["time"] = np.repeat(times, n_sym)
    df["trades"] = trades
    df["source"] = _strings((SOURCE,), n)
    return df[list(BAR_COLUMNS)], end


_FLOATS = ("open", "high", "low", "close", "volume", "vwap")


def _strings(names: Sequence[str], repeats: int) -> pd.Series:
    """``names`` repeated ``repeats`` times as a string column.

    Built straight from Arrow buffers: millions of rows without one Python
    object per row (``pd.Series(list_of_str)`` takes about a second here).
    """
    encoded = [x.encode() for x in names]
    ends = np.cumsum([len(b) for b in encoded], dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    offsets = (starts[None, :] + ends[-1] * np.arange(repeats, dtype=np.int64)[:, None]).ravel()
    offsets = np.append(offsets, ends[-1] * repeats)
    data = b"".join(encoded) * repeats
    n = repeats * len(names)
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    return pd.Series(arr, dtype="str")
