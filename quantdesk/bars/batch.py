"""Batch bar aggregation: trades -> bars and 1m bars -> larger intervals.

This is the batch twin of :class:`quantdesk.stream.bars.BarAggregator`: the
same placement rules (:mod:`quantdesk.bars.buckets`) and the same merge of
per-minute summaries, so streaming and batch give the same bars.

Everything is vectorized: rows are ordered by (symbol, time), group
boundaries are found with one ``diff`` and each column is reduced with
``ufunc.reduceat``. Trades arrive ordered by time, so :func:`aggregate_trades`
orders them by symbol in cache-sized chunks of whole minutes (a stable radix
sort of small integer codes), on several threads for large inputs. Larger
intervals are rolled up from the 1m summaries (open = first, high = max,
low = min, close = last, volume = sum, VWAP = sum(price x size) / sum(size),
trades = sum).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from quantdesk.bars.buckets import bucket_start, place
from quantdesk.calendars import ExchangeCalendar, get_calendar
from quantdesk.domain.intervals import INTERVALS, MINUTE_MS, PERIOD_INTERVALS, normalize_interval
from quantdesk.domain.messages import BAR_COLUMNS
from quantdesk.errors import DataError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: ``market_klines`` columns without ``source`` (the caller knows where trades came from).
OUTPUT_COLUMNS = [c for c in BAR_COLUMNS if c != "source"]


@dataclass(slots=True)
class Summary:
    """Column arrays of bars for one interval, ordered by (code, time)."""

    code: I64
    time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    pv: F64
    trades: I64

    def __len__(self) -> int:
        return len(self.time)

    def take(self, mask: npt.NDArray[np.bool_]) -> Summary:
        return Summary(*(getattr(self, f)[mask] for f in _FIELDS))


_FIELDS = ("code", "time", "open", "high", "low", "close", "volume", "pv", "trades")
_NO_COUNTS: I64 = np.empty(0, dtype=np.int64)  # rows that are single trades: count them
_CHUNK = 65_536  # trades per chunk in _minute_bars: its columns stay in the CPU cache
_THREADED = 1_000_000  # from this many trades on, chunks are reduced on several threads


def reduce_sorted(rows: Summary, buckets: I64) -> Summary:
    """Merge consecutive rows with equal (code, bucket); rows are ordered by (code, time)."""
    n = len(rows)
    if n == 0:
        return rows
    change = np.empty(n, dtype=np.bool_)
    change[0] = True
    np.not_equal(buckets[1:], buckets[:-1], out=change[1:])
    change[1:] |= rows.code[1:] != rows.code[:-1]
    starts = np.flatnonzero(change)
    stops = np.empty_like(starts)
    stops[:-1] = starts[1:]
    stops[-1] = n
    ends = stops - 1
    # rows that are single trades (trades empty) count one each: no array of ones to sum
    trades = np.add.reduceat(rows.trades, starts) if len(rows.trades) else stops - starts
    return Summary(
        code=rows.code[starts],
        time=buckets[starts],
        open=rows.open[starts],
        high=np.maximum.reduceat(rows.high, starts),
        low=np.minimum.reduceat(rows.low, starts),
        close=rows.close[ends],
        volume=np.add.reduceat(rows.volume, starts),
        pv=np.add.reduceat(rows.pv, starts),
        trades=trades.astype(np.int64, copy=False),
    )


def _order(code: I64, ts: I64) -> I64 | None:
    """A stable ordering by (code, ts), or None if already ordered."""
    ts_sorted = bool(np.all(ts[1:] >= ts[:-1])) if len(ts) > 1 else True
    code_sorted = bool(np.all(code[1:] >= code[:-1])) if len(code) > 1 else True
    if ts_sorted and code_sorted:
        return None
    if code_sorted:  # each symbol's block only needs its time order
        return np.lexsort((ts, code)).astype(np.int64)
    order = np.arange(len(ts), dtype=np.int64) if ts_sorted else np.argsort(ts, kind="stable")
    small = code.astype(np.int16) if code.max(initial=0) < 32_767 else code
    return order[np.argsort(small[order], kind="stable")].astype(np.int64)


def _resolve_calendar(calendar: str | ExchangeCalendar | None) -> ExchangeCalendar | None:
    if calendar is None or isinstance(calendar, ExchangeCalendar):
        return calendar
    return get_calendar(calendar)


def _intervals(intervals: Sequence[str] | None) -> list[str]:
    wanted = {normalize_interval(i) for i in (intervals or INTERVALS)}
    return [i for i in INTERVALS if i in wanted]


def rollup(
    base: Summary, intervals: Sequence[str], calendar: ExchangeCalendar | None
) -> dict[str, Summary]:
    """Roll 1m summaries (ordered by code, time) up to each interval in ``intervals``."""
    out: dict[str, Summary] = {}
    if "1m" in intervals:
        out["1m"] = base
    if len(base) == 0:
        return {i: base for i in intervals}
    if all(i == "1m" for i in intervals):
        return out
    t_eff, seg, valid = place(base.time, calendar)
    if not valid.all():  # 1m bars outside sessions (imported data) roll up into nothing
        base, t_eff, seg = base.take(valid), t_eff[valid], seg[valid]
    for interval in intervals:
        if interval != "1m" and interval not in PERIOD_INTERVALS:
            out[interval] = reduce_sorted(base, bucket_start(t_eff, seg, interval, calendar))
    periods = [i for i in intervals if i in PERIOD_INTERVALS]
    if periods:
        days = out.get("1d")
        if days is None:
            days = reduce_sorted(base, bucket_start(t_eff, seg, "1d", calendar))
        out.update(rollup_days(days, periods, calendar))
    return out


def rollup_days(
    days: Summary, intervals: Sequence[str], calendar: ExchangeCalendar | None
) -> dict[str, Summary]:
    """Roll 1d summaries (ordered by code, time) up to ``1w`` and/or ``1M``.

    A week or a month is the aggregate of its 1d bars (open of the first,
    close of the last, max, min, sums), so it equals the 1m bars rolled up to
    any order of summation of the days.
    """
    if calendar is None:
        seg = np.full(len(days), -1, dtype=np.int64)
    else:  # a 1d bar starts at its day's first open: that segment
        seg = np.searchsorted(calendar.opens, days.time, side="right").astype(np.int64) - 1
    return {i: reduce_sorted(days, bucket_start(days.time, seg, i, calendar)) for i in intervals}


def _frame(
    parts: dict[str, Summary], symbols: Sequence[str] | npt.NDArray[np.object_]
) -> pd.DataFrame:
    frames = []
    names = np.asarray(symbols, dtype=object)
    for interval, s in parts.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = np.where(s.volume > 0, s.pv / s.volume, s.close)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": names[s.code],
                    "interval": interval,
                    "time": s.time,
                    "open": s.open,
                    "high": s.high,
                    "low": s.low,
                    "close": s.close,
                    "volume": s.volume,
                    "vwap": vwap,
                    "trades": s.trades,
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def aggregate_trades(
    trades: pd.DataFrame,
    intervals: Sequence[str] | None = None,
    calendar: str | ExchangeCalendar | None = None,
) -> pd.DataFrame:
    """Aggregate trades into bars, with the streaming path's rules.

    ``trades`` has columns ``symbol``, ``ts`` (epoch ms UTC), ``price`` and
    ``volume``. ``intervals`` defaults to all (1m ... 1d); ``calendar`` is
    ``"XSHG"``, ``"XNYS"`` (session-anchored, prints outside sessions are
    dropped) or ``None`` (UTC-epoch buckets). Returns a DataFrame with
    columns symbol, interval, time (bar start, epoch ms UTC), open, high,
    low, close, volume, vwap, trades, ordered by interval, symbol, time.
    """
    missing = {"symbol", "ts", "price", "volume"} - set(trades.columns)
    if missing:
        raise DataError(f"trades frame lacks column(s) {', '.join(sorted(missing))}")
    wanted = _intervals(intervals)
    cal = _resolve_calendar(calendar)
    code, symbols = _factorize(trades["symbol"])
    ts = trades["ts"].to_numpy(dtype=np.int64)
    price = trades["price"].to_numpy(dtype=np.float64)
    size = trades["volume"].to_numpy(dtype=np.float64)
    if len(ts) > 1 and not bool((ts[1:] >= ts[:-1]).all()):
        by_time = np.argsort(ts, kind="stable")  # then stable by symbol: (symbol, ts) order
        code, ts, price, size = code[by_time], ts[by_time], price[by_time], size[by_time]
    if cal is None:
        minute = ts // MINUTE_MS * MINUTE_MS
    else:
        t_eff, seg, valid = place(ts, cal)
        if not valid.all():
            code = code[valid]
            price, size, t_eff, seg = price[valid], size[valid], t_eff[valid], seg[valid]
        minute = bucket_start(t_eff, seg, "1m", cal)
    base = _minute_bars(code, len(symbols), minute, price, size)
    return _frame(rollup(base, wanted, cal), symbols)


def _minute_bars(
    code: npt.NDArray[np.integer[Any]], n_codes: int, minute: I64, price: F64, size: F64
) -> Summary:
    """1m summaries ordered by (code, time) of time-ordered trades (``minute``: each bar start).

    The same groups and the same ``reduceat`` runs as :func:`reduce_sorted` on
    rows ordered by (code, time), so the same floats; but the trades are
    ordered by code only within chunks of whole minutes (a chunk's columns
    stay in the CPU cache), and the chunks' bars are ordered once at the end.
    """
    n = len(minute)
    small = code.astype(_code_dtype(n_codes), copy=False)
    if n > 1 and bool((minute[1:] >= minute[:-1]).all()):
        cuts = np.unique(np.searchsorted(minute, minute[_CHUNK::_CHUNK], side="left"))
        bounds = [0, *cuts.tolist(), n]
    else:  # minutes out of order (not from time-ordered trades): one chunk, as reduce_sorted
        bounds = [0, n]
    chunks = list(itertools.pairwise(bounds))

    def reduce_chunk(chunk: tuple[int, int]) -> Summary:
        lo, hi = chunk
        c = small[lo:hi]
        order = np.argsort(c, kind="stable")
        p = price[lo:hi][order]
        s = size[lo:hi][order]
        rows = Summary(
            code=c[order],  # small codes: widened once, at the end
            time=minute[lo:hi][order],
            open=p,
            high=p,
            low=p,
            close=p,
            volume=s,
            pv=p * s,
            trades=_NO_COUNTS,
        )
        return reduce_sorted(rows, rows.time)

    parts = _map(reduce_chunk, chunks, n)
    cat = Summary(*(np.concatenate([getattr(s, f) for s in parts]) for f in _FIELDS))
    order = np.argsort(cat.code, kind="stable")  # chunks are in time order
    out = Summary(*(getattr(cat, f)[order] for f in _FIELDS))
    out.code = out.code.astype(np.int64)
    return out


def _code_dtype(n_codes: int) -> type[np.signedinteger[Any]]:
    """The smallest code type (a stable argsort of 8 or 16 bit integers is a radix sort)."""
    return np.int8 if n_codes <= 127 else np.int16 if n_codes <= 32_767 else np.int64


_T = TypeVar("_T")
_R = TypeVar("_R")


def _workers(n: int) -> int:
    return min(os.cpu_count() or 1, 8) if n >= _THREADED else 1


def _map(fn: Callable[[_T], _R], items: Sequence[_T], n: int) -> list[_R]:
    """``[fn(x) for x in items]``, on threads when ``n`` (trades) is large.

    NumPy and pyarrow release the GIL in sorts, gathers and reductions.
    """
    workers = min(_workers(n), len(items))
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def _factorize(
    symbols: pd.Series,
) -> tuple[npt.NDArray[np.integer[Any]], npt.NDArray[np.object_]]:
    """``pd.factorize(symbols, sort=True)`` as (codes, names), faster for Arrow strings.

    Arrow-backed strings (pandas' ``str`` dtype with pyarrow) are
    dictionary-encoded by pyarrow in pieces (on several threads for large
    inputs); the pieces' dictionaries are merged and the codes mapped to the
    sorted names.
    """
    dtype = symbols.dtype
    arrow = (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow") or (
        isinstance(dtype, pd.ArrowDtype)
        and (
            pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
        )
    )
    n = len(symbols)
    if not arrow or n == 0 or symbols.isna().any():
        raw_codes, uniques = pd.factorize(symbols, sort=True)
        return raw_codes, np.asarray(uniques, dtype=object)
    column = pa.array(symbols.array)  # zero-copy for one chunk
    step = max(_CHUNK * 16, -(-n // _workers(n)))
    pieces = [column.slice(i, step) for i in range(0, n, step)]
    parts = _map(_encode, pieces, n)
    dictionaries = [np.asarray(p.dictionary.to_pylist(), dtype=object) for p in parts]
    names = np.unique(np.concatenate(dictionaries))
    small = _code_dtype(len(names))
    codes = np.concatenate(
        [
            np.searchsorted(names, d).astype(small)[p.indices.to_numpy(zero_copy_only=False)]
            for p, d in zip(parts, dictionaries, strict=True)
        ]
    )
    return codes, names


def _encode(piece: pa.Array) -> pa.DictionaryArray:
    encoded: pa.DictionaryArray = pc.dictionary_encode(piece)
    return encoded


def rollup_bars(
    bars_1m: pd.DataFrame,
    intervals: Sequence[str] | None = None,
    calendar: str | ExchangeCalendar | None = None,
) -> pd.DataFrame:
    """Roll stored 1m bars (columns of ``market_klines``) up to larger intervals.

    Returns the larger intervals only (1m is the input), with a ``source``
    column copied from the input when it has one (per symbol). ``1w`` and
    ``1M`` come from the 1d bars of the input: give whole weeks or months
    (or roll them up from the stored 1d bars with :func:`rollup_periods`).
    """
    wanted = [i for i in _intervals(intervals) if i != "1m"]
    cal = _resolve_calendar(calendar)
    base, symbols = _summary_of(bars_1m)
    return _with_source(_frame(rollup(base, wanted, cal), symbols), bars_1m)


def _summary_of(bars: pd.DataFrame) -> tuple[Summary, npt.NDArray[np.object_]]:
    """Stored bars (columns of ``market_klines``) as a Summary ordered by (code, time)."""
    codes_raw, symbols = pd.factorize(bars["symbol"], sort=True)
    code = codes_raw.astype(np.int64)
    time = bars["time"].to_numpy(dtype=np.int64)
    order = _order(code, time)
    take = (lambda a: a[order]) if order is not None else (lambda a: a)
    volume = take(bars["volume"].to_numpy(dtype=np.float64))
    summary = Summary(
        code=take(code),
        time=take(time),
        open=take(bars["open"].to_numpy(dtype=np.float64)),
        high=take(bars["high"].to_numpy(dtype=np.float64)),
        low=take(bars["low"].to_numpy(dtype=np.float64)),
        close=take(bars["close"].to_numpy(dtype=np.float64)),
        volume=volume,
        pv=take(bars["vwap"].to_numpy(dtype=np.float64)) * volume,
        trades=take(bars["trades"].to_numpy(dtype=np.int64)),
    )
    return summary, np.asarray(symbols, dtype=object)


def _with_source(out: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """``out`` with a ``source`` column copied per symbol from ``bars`` (when it has one)."""
    if "source" in bars.columns:
        src = bars.groupby("symbol", sort=False)["source"].first()
        out["source"] = out["symbol"].map(src)
    return out


def rollup_periods(
    bars_1d: pd.DataFrame,
    intervals: Sequence[str] = PERIOD_INTERVALS,
    calendar: str | ExchangeCalendar | None = None,
) -> pd.DataFrame:
    """Roll 1d bars (columns of ``market_klines``) up to ``1w`` and ``1M``.

    Give every 1d bar of the weeks and months wanted: a period's bar is the
    aggregate of the 1d bars given for it. ``source`` is copied per symbol
    when the input has it.
    """
    wanted = [i for i in _intervals(intervals) if i in PERIOD_INTERVALS]
    cal = _resolve_calendar(calendar)
    if len(bars_1d) == 0 or not wanted:
        return pd.DataFrame(columns=[*OUTPUT_COLUMNS, "source"])
    days, symbols = _summary_of(bars_1d)
    return _with_source(_frame(rollup_days(days, wanted, cal), symbols), bars_1d)
