"""Batch bar aggregation: trades -> bars and 1m bars -> larger intervals.

This is the batch twin of :class:`quantdesk.stream.bars.BarAggregator`: the
same placement rules (:mod:`quantdesk.bars.buckets`) and the same merge of
per-minute summaries, so streaming and batch give the same bars.

Everything is vectorized: rows are ordered by (symbol, time) once, group
boundaries are found with one ``diff`` and each column is reduced with
``ufunc.reduceat``. Larger intervals are rolled up from the 1m summaries
(open = first, high = max, low = min, close = last, volume = sum,
VWAP = sum(price x size) / sum(size), trades = sum).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantdesk.bars.buckets import bucket_start, place
from quantdesk.calendars import ExchangeCalendar, get_calendar
from quantdesk.domain.intervals import INTERVALS, normalize_interval
from quantdesk.errors import DataError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

OUTPUT_COLUMNS = [
    "symbol",
    "interval",
    "time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "trades",
]


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
    ends = np.r_[starts[1:], n] - 1
    return Summary(
        code=rows.code[starts],
        time=buckets[starts],
        open=rows.open[starts],
        high=np.maximum.reduceat(rows.high, starts),
        low=np.minimum.reduceat(rows.low, starts),
        close=rows.close[ends],
        volume=np.add.reduceat(rows.volume, starts),
        pv=np.add.reduceat(rows.pv, starts),
        trades=np.add.reduceat(rows.trades, starts),
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
    t_eff, seg, valid = place(base.time, calendar)
    if not valid.all():  # 1m bars outside sessions (imported data) roll up into nothing
        base, t_eff, seg = base.take(valid), t_eff[valid], seg[valid]
    for interval in intervals:
        if interval != "1m":
            out[interval] = reduce_sorted(base, bucket_start(t_eff, seg, interval, calendar))
    return out


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
    codes_raw, symbols = pd.factorize(trades["symbol"], sort=True)
    code = codes_raw.astype(np.int64)
    ts = trades["ts"].to_numpy(dtype=np.int64)
    price = trades["price"].to_numpy(dtype=np.float64)
    size = trades["volume"].to_numpy(dtype=np.float64)
    order = _order(code, ts)
    if order is not None:
        code, ts, price, size = code[order], ts[order], price[order], size[order]
    t_eff, seg, valid = place(ts, cal)
    if not valid.all():
        code, ts, price, size, t_eff, seg = (a[valid] for a in (code, ts, price, size, t_eff, seg))
    rows = Summary(
        code=code,
        time=ts,
        open=price,
        high=price,
        low=price,
        close=price,
        volume=size,
        pv=price * size,
        trades=np.ones(len(ts), dtype=np.int64),
    )
    base = reduce_sorted(rows, bucket_start(t_eff, seg, "1m", cal))
    return _frame(rollup(base, wanted, cal), np.asarray(symbols, dtype=object))


def rollup_bars(
    bars_1m: pd.DataFrame,
    intervals: Sequence[str] | None = None,
    calendar: str | ExchangeCalendar | None = None,
) -> pd.DataFrame:
    """Roll stored 1m bars (columns of ``market_klines``) up to larger intervals.

    Returns the larger intervals only (1m is the input), with a ``source``
    column copied from the input when it has one (per symbol).
    """
    wanted = [i for i in _intervals(intervals) if i != "1m"]
    cal = _resolve_calendar(calendar)
    codes_raw, symbols = pd.factorize(bars_1m["symbol"], sort=True)
    code = codes_raw.astype(np.int64)
    time = bars_1m["time"].to_numpy(dtype=np.int64)
    order = _order(code, time)
    take = (lambda a: a[order]) if order is not None else (lambda a: a)
    volume = take(bars_1m["volume"].to_numpy(dtype=np.float64))
    base = Summary(
        code=take(code),
        time=take(time),
        open=take(bars_1m["open"].to_numpy(dtype=np.float64)),
        high=take(bars_1m["high"].to_numpy(dtype=np.float64)),
        low=take(bars_1m["low"].to_numpy(dtype=np.float64)),
        close=take(bars_1m["close"].to_numpy(dtype=np.float64)),
        volume=volume,
        pv=take(bars_1m["vwap"].to_numpy(dtype=np.float64)) * volume,
        trades=take(bars_1m["trades"].to_numpy(dtype=np.int64)),
    )
    out = _frame(rollup(base, wanted, cal), np.asarray(symbols, dtype=object))
    if "source" in bars_1m.columns:
        src = bars_1m.groupby("symbol", sort=False)["source"].first()
        out["source"] = out["symbol"].map(src)
    return out
