"""``morning``: seed B's data set — this morning's session predicts the next morning's.

Per stock and trading day, from stored intraday bars (the finest interval a
stock has: 1m, or 120m where only those exist):

* the **morning** is the first half of the day: the A-share morning session
  (9:30-11:30; the first of the day's two segments) or, for a one-segment day
  (US), the bars that end by the session's midpoint (12:45 New York on a
  regular day). Its end is the row's decision time: a prediction is made at
  noon, as in seed B.
* ``am_open`` / ``am_close``: the first bar's open and the last morning bar's
  close; ``prev_close``: the previous trading day's last close.

Features (ratios, so one model serves every stock):

==================  ==========================================================
``open_ratio``      am_open / prev_close - 1 (seed B's input 1)
``close_ratio``     am_close / prev_close - 1 (seed B's input 2)
``am_open_chg``     am_open / previous am_close - 1 (today's ``next_open``)
``am_close_chg``    am_close / previous am_close - 1 (today's ``next_close``)
``am_range``        (morning high - morning low) / prev_close
``am_volume_ratio`` log(morning volume / mean of the previous 20 mornings')
==================  ==========================================================

Targets (seed B's outputs), relative to today's morning close — the last price
known at decision time, so a predicted ratio is directly a predicted return
for a stock bought this afternoon and sold tomorrow morning (the T+1 trade):

* ``next_open``  = next trading day's am_open / am_close - 1
* ``next_close`` = next trading day's am_close / am_close - 1 (the return target)

A row needs the previous trading day (on the calendar) for its features and the
next one for its targets; a stock's first rows (volume warm-up) are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quantdesk.calendars.sessions import ExchangeCalendar
from quantdesk.domain.intervals import interval_ms
from quantdesk.errors import DataError
from quantdesk.models.datasets.base import I64, Dataset, from_frame

FEATURES = (
    "open_ratio",
    "close_ratio",
    "am_open_chg",
    "am_close_chg",
    "am_range",
    "am_volume_ratio",
)
#: Seed B's two inputs and two outputs.
SEED_B_FEATURES = ("open_ratio", "close_ratio")
TARGETS = ("next_open", "next_close")
NAIVE = {"next_open": "am_open_chg", "next_close": "am_close_chg"}
RETURN_TARGET = "next_close"
VOLUME_DAYS = 20
VOLUME_MIN_DAYS = 5
MINUTE_MS = 60_000


def morning_cutoffs(calendar: ExchangeCalendar) -> I64:
    """The end of the morning (epoch ms) of every calendar day (index into ``days``)."""
    first = np.r_[True, calendar.day_index[1:] != calendar.day_index[:-1]]
    segs = np.bincount(calendar.day_index, minlength=len(calendar.days))
    o = calendar.opens[first]
    c = calendar.closes[first]
    half = ((c - o) // 2) // MINUTE_MS * MINUTE_MS
    return np.where(segs[calendar.day_index[first]] >= 2, c, o + half).astype(np.int64)


def _time_ms(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.dt.tz_convert("UTC").dt.as_unit("ms").astype("int64").to_numpy()
    return col.to_numpy(dtype=np.int64)


def _interval_ms(col: pd.Series) -> np.ndarray:
    lengths = {str(i): interval_ms(str(i)) for i in col.unique()}
    return col.astype(str).map(lengths).to_numpy(dtype=np.int64)


def _finest(bars: pd.DataFrame) -> pd.DataFrame:
    """Each symbol's bars of its finest intraday interval."""
    intraday = bars[bars["interval"] != "1d"]
    if intraday.empty or intraday["interval"].nunique() == 1:
        return intraday
    length = pd.Series(_interval_ms(intraday["interval"]), index=intraday.index)
    finest = length.groupby(intraday["symbol"]).transform("min")
    return intraday.loc[length == finest]


def morning_rows(bars: pd.DataFrame, calendar: ExchangeCalendar) -> pd.DataFrame:
    """Per (symbol, calendar day): am open/high/low/close/volume, day close, cutoff."""
    bars = _finest(bars)
    if bars.empty:
        return pd.DataFrame()
    codes, names = pd.factorize(bars["symbol"], sort=True)
    t = _time_ms(bars["time"])
    order = np.lexsort((t, codes))
    t = t[order]
    code = codes[order].astype(np.int64)
    length = _interval_ms(bars["interval"])[order]
    seg = np.searchsorted(calendar.opens, t, side="right") - 1
    ok = (seg >= 0) & (t < calendar.closes[np.maximum(seg, 0)])
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise DataError(
            f"bar {names[code[bad]]} at {t[bad]} ms is outside {calendar.name}'s sessions"
        )
    day = calendar.day_index[seg]
    cut = morning_cutoffs(calendar)[day]
    col = {k: bars[k].to_numpy(dtype=np.float64)[order] for k in ("open", "high", "low", "close")}
    volume = bars["volume"].to_numpy(dtype=np.float64)[order]
    key = code * (len(calendar.days) + 1) + day
    # the day's last close (every bar of the day)
    day_last = np.r_[key[1:] != key[:-1], True]
    day_close = pd.Series(col["close"][day_last], index=key[day_last])
    # the morning: bars that end by the cutoff
    am = t + length <= cut
    k_am = key[am]
    if not len(k_am):
        return pd.DataFrame()
    first = np.flatnonzero(np.r_[True, k_am[1:] != k_am[:-1]])
    last = np.r_[first[1:] - 1, len(k_am) - 1]
    keys = k_am[first]
    return pd.DataFrame(
        {
            "symbol": np.asarray(names, dtype=object)[code[am][first]],
            "day_idx": day[am][first],
            "am_open": col["open"][am][first],
            "am_high": np.maximum.reduceat(col["high"][am], first),
            "am_low": np.minimum.reduceat(col["low"][am], first),
            "am_close": col["close"][am][last],
            "am_volume": np.add.reduceat(volume[am], first),
            "cut": cut[am][first],
            "day_close": day_close.reindex(keys).to_numpy(),
        }
    )


def build_morning(bars: pd.DataFrame, calendar: ExchangeCalendar) -> Dataset:
    """The ``morning`` data set from intraday bars on one exchange calendar."""
    rows = morning_rows(bars, calendar)
    if rows.empty:
        return from_frame("morning", pd.DataFrame(), FEATURES, TARGETS, RETURN_TARGET, NAIVE)
    g = rows.groupby("symbol", sort=False)
    prev_ok = (rows["day_idx"] - g["day_idx"].shift(1)) == 1
    next_ok = (g["day_idx"].shift(-1) - rows["day_idx"]) == 1
    prev_close = g["day_close"].shift(1).where(prev_ok)
    prev_am = g["am_close"].shift(1).where(prev_ok)
    out = pd.DataFrame(
        {
            "symbol": rows["symbol"],
            "day": np.asarray(calendar.days, dtype="datetime64[D]")[rows["day_idx"].to_numpy()],
            "decision_time": rows["cut"].astype(np.int64),
            "reference": rows["am_close"],
            "open_ratio": rows["am_open"] / prev_close - 1.0,
            "close_ratio": rows["am_close"] / prev_close - 1.0,
            "am_open_chg": rows["am_open"] / prev_am - 1.0,
            "am_close_chg": rows["am_close"] / prev_am - 1.0,
            "am_range": (rows["am_high"] - rows["am_low"]) / prev_close,
        }
    )
    past_volume = g["am_volume"].transform(
        lambda v: v.shift(1).rolling(VOLUME_DAYS, min_periods=VOLUME_MIN_DAYS).mean()
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["am_volume_ratio"] = np.log(rows["am_volume"] / past_volume)
    out["next_open"] = (g["am_open"].shift(-1) / rows["am_close"] - 1.0).where(next_ok)
    out["next_close"] = (g["am_close"].shift(-1) / rows["am_close"] - 1.0).where(next_ok)
    return from_frame("morning", out, FEATURES, TARGETS, RETURN_TARGET, NAIVE)


def build_morning_by_calendar(
    bars: pd.DataFrame, calendars: Mapping[str, ExchangeCalendar]
) -> Dataset:
    """``morning`` over stocks of several calendars (``calendars``: symbol -> calendar)."""
    from quantdesk.models.datasets.base import concat

    parts = []
    by_cal: dict[str, list[str]] = {}
    for sym, cal in calendars.items():
        by_cal.setdefault(cal.name, []).append(sym)
    for syms in by_cal.values():
        cal = calendars[syms[0]]
        parts.append(build_morning(bars[bars["symbol"].isin(syms)], cal))
    return concat(parts) if parts else build_morning(bars.iloc[:0], next(iter(calendars.values())))
