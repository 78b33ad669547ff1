"""``daily``: returns, volume and the technical indicators of each day -> the next day's return.

Per stock and trading day, from stored daily bars (``1d``). The decision time
is the day's close; every feature uses that day's bar and earlier ones only.

=================  ===============================================================
``ret_1``          close / previous close - 1 (today's ``next_return``: the naive)
``ret_5``          close / close 5 days ago - 1
``ret_20``         close / close 20 days ago - 1
``gap``            open / previous close - 1
``range``          (high - low) / close
``volume_ratio``   log(volume / mean volume of the previous 5 days)
                   (:func:`quantdesk.indicators.volume_ratio`)
``volume_chg``     log(volume / previous volume)
``rsi``            RSI(14) / 100 - 0.5
``macd``           MACD histogram (12, 26, 9) / close
``bb_pos``         position in the Bollinger Bands (20, 2): (close - lower) / (upper -
                   lower) - 0.5
``atr``            ATR(14) / close
``willr``          Williams %R(14) / 100 + 0.5
``kdj_k``          KDJ K(9, 3, 3) / 100 - 0.5
``stddev``         standard deviation of the last 20 closes / close
``obv_chg``        change of OBV over 5 days / 5-day volume
=================  ===============================================================

Target ``next_return`` = next day's close / close - 1 (its sign is the
direction). Rows inside an indicator's warm-up (the first ~35 days of a stock)
are dropped. Days are the exchange-local dates of the bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantdesk import indicators as qi
from quantdesk.calendars.sessions import DAY_MS
from quantdesk.models.datasets.base import Dataset, from_frame

FEATURES = (
    "ret_1",
    "ret_5",
    "ret_20",
    "gap",
    "range",
    "volume_ratio",
    "volume_chg",
    "rsi",
    "macd",
    "bb_pos",
    "atr",
    "willr",
    "kdj_k",
    "stddev",
    "obv_chg",
)
TARGETS = ("next_return",)
NAIVE = {"next_return": "ret_1"}
RETURN_TARGET = "next_return"


def _one(sym: str, bars: pd.DataFrame, tz: str) -> pd.DataFrame:
    t = bars["time"]
    if pd.api.types.is_datetime64_any_dtype(t):
        ms = t.dt.tz_convert("UTC").dt.as_unit("ms").astype("int64").to_numpy()
    else:
        ms = t.to_numpy(dtype=np.int64)
    o, h, lo, c, v = (
        bars[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close", "volume")
    )
    local = pd.to_datetime(ms, unit="ms", utc=True).tz_convert(tz)
    prev = np.r_[np.nan, c[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        up, _mid, dn = qi.bbands(c, 20, 2.0, 2.0)
        obv = qi.obv(c, v)
        vsum5 = pd.Series(v).rolling(5).sum().to_numpy()
        k, _d, _j = qi.kdj(h, lo, c)
        out = pd.DataFrame(
            {
                "symbol": sym,
                "day": local.tz_localize(None).normalize().to_numpy(dtype="datetime64[D]"),
                # the day's end: a daily bar is known at the close (bounded by its date's end)
                "decision_time": ms + DAY_MS - 1,
                "reference": c,
                "ret_1": c / prev - 1.0,
                "ret_5": c / np.r_[np.full(5, np.nan), c[:-5]][: len(c)] - 1.0,
                "ret_20": c / np.r_[np.full(20, np.nan), c[:-20]][: len(c)] - 1.0,
                "gap": o / prev - 1.0,
                "range": (h - lo) / c,
                "volume_ratio": np.log(qi.volume_ratio(v, 5)),
                "volume_chg": np.log(v / np.r_[np.nan, v[:-1]]),
                "rsi": qi.rsi(c, 14) / 100.0 - 0.5,
                "macd": qi.macd(c, 12, 26, 9)[2] / c,
                "bb_pos": (c - dn) / (up - dn) - 0.5,
                "atr": qi.atr(h, lo, c, 14) / c,
                "willr": qi.willr(h, lo, c, 14) / 100.0 + 0.5,
                "kdj_k": k / 100.0 - 0.5,
                "stddev": qi.stddev(c, 20) / c,
                "obv_chg": (obv - np.r_[np.full(5, np.nan), obv[:-5]][: len(c)]) / vsum5,
                "next_return": np.r_[c[1:], np.nan] / c - 1.0,
            }
        )
    return out


def build_daily(bars: pd.DataFrame, tz: str = "UTC") -> Dataset:
    """The ``daily`` data set from ``1d`` bars (``tz``: the exchange zone, for the dates)."""
    bars = bars[bars["interval"] == "1d"]
    parts = [
        _one(str(sym), group.sort_values("time", kind="stable"), tz)
        for sym, group in bars.groupby("symbol", sort=True)
    ]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not frame.empty:
        frame = frame.replace([np.inf, -np.inf], np.nan)
    return from_frame("daily", frame, FEATURES, TARGETS, RETURN_TARGET, NAIVE)
