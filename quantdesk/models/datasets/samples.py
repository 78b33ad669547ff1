"""Real daily data that ships offline inside PyPI packages, imported as ``1d`` bars.

==========  ======================================  =====================================
name        package (``pip install 'quantdesk[samples]'``)  content
==========  ======================================  =====================================
bokeh       ``bokeh-sampledata``                    AAPL, GOOG, IBM, MSFT daily 2000-2013
                                                    (Quandl WIKI, public domain); prices
                                                    split- and dividend-adjusted with the
                                                    file's ``Adj Close``
arch        ``arch``                                S&P 500 (``SPX``) and NASDAQ
                                                    Composite (``IXIC``) daily 1999-2018
==========  ======================================  =====================================

The files are read straight from the installed package (nothing is imported
from it, nothing downloaded). Each bar's ``time`` is the day's 9:30 New York
open (a ``1d`` bar starts at the day's first session open) and ``source`` is
the package name. Use them with ``quantdesk model import-sample`` and
``quantdesk model evaluate --dataset daily --symbols AAPL,GOOG,IBM,MSFT``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from quantdesk.domain import BAR_COLUMNS, StockMeta
from quantdesk.errors import DependencyError, ModelError

SAMPLES = {
    "bokeh": ("bokeh-sampledata", "bokeh_sampledata", ("AAPL", "GOOG", "IBM", "MSFT")),
    "arch": ("arch", "arch", ("SPX", "IXIC")),
}
TZ = "America/New_York"


def _package_dir(dist: str, module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            f"the sample data needs the package {dist!r}: pip install 'quantdesk[samples]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _bars(frame: pd.DataFrame, symbol: str, source: str) -> pd.DataFrame:
    day = pd.to_datetime(frame["date"], format="mixed")
    opens = (day + pd.Timedelta(hours=9, minutes=30)).dt.tz_localize(TZ).dt.tz_convert("UTC")
    out = pd.DataFrame(
        {
            "symbol": symbol,
            "interval": "1d",
            "time": opens.dt.as_unit("ms").astype("int64").to_numpy(),
            "open": frame["open"].to_numpy(dtype=np.float64),
            "high": frame["high"].to_numpy(dtype=np.float64),
            "low": frame["low"].to_numpy(dtype=np.float64),
            "close": frame["close"].to_numpy(dtype=np.float64),
            "volume": frame["volume"].to_numpy(dtype=np.float64),
        }
    )
    out["high"] = out[["open", "high", "close"]].max(axis=1)
    out["low"] = out[["open", "low", "close"]].min(axis=1)
    out["vwap"] = (out["high"] + out["low"] + out["close"]) / 3.0
    out["trades"] = 0
    out["source"] = source
    out = out[(out[["open", "high", "low", "close"]] > 0).all(axis=1)]
    return out[list(BAR_COLUMNS)].drop_duplicates(["symbol", "time"]).sort_values("time")


def sample_bars(name: str) -> pd.DataFrame:
    """The ``1d`` bars of sample ``name`` (``bokeh`` or ``arch``)."""
    if name not in SAMPLES:
        raise ModelError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}")
    dist, module, symbols = SAMPLES[name]
    root = _package_dir(dist, module)
    parts = []
    if name == "bokeh":
        raw = pd.read_csv(root / "_data" / "stocks.csv.gz")
        raw.columns = [c.strip().lower().replace(" ", "_") for c in raw.columns]
        for sym in symbols:
            one = raw[raw["ticker"] == sym].copy()
            adj = one["adj_close"] / one["close"]
            for col in ("open", "high", "low", "close"):
                one[col] = one[col] * adj
            one["volume"] = one["volume"] / adj
            parts.append(_bars(one, sym, dist))
    else:
        for sym, sub in (("SPX", "sp500"), ("IXIC", "nasdaq")):
            raw = pd.read_csv(root / "data" / sub / f"{sub}.csv.gz")
            raw.columns = [c.strip().lower().replace(" ", "_") for c in raw.columns]
            parts.append(_bars(raw, sym, dist))
    return pd.concat(parts, ignore_index=True)


def sample_metas(name: str) -> list[StockMeta]:
    """``stock_metadata`` rows for the sample's symbols (US market, XNYS)."""
    _, _, symbols = SAMPLES[name]
    return [
        StockMeta(
            symbol=s,
            name=s,
            market="us",
            sector="Index" if name == "arch" else "Technology",
            base_price=100.0,
            volatility=0.25,
            base_volume=1.0,
            calendar="XNYS",
        )
        for s in symbols
    ]
