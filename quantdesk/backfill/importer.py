"""``quantdesk import PATH``: load a user's OHLCV file (CSV or Parquet).

Columns (names are case-insensitive; extra columns are ignored):

==========  ========  ===============================================================
column      required  meaning
==========  ========  ===============================================================
symbol      yes*      e.g. ``600036.SH`` or ``AAPL`` (*or give ``--symbol``)
time        yes       bar start: ISO 8601 (``2024-05-06T09:30:00+08:00``; a time
                      without offset is read in ``--tz``, default UTC) or epoch
                      seconds / milliseconds (integers)
interval    no        ``1m 5m 15m 30m 60m 120m 1d 1w 1M`` (``1h`` = ``60m``);
                      default ``--interval`` (``1m``)
open high   yes       prices, > 0, with low <= open, close <= high
low close
volume      yes       >= 0
vwap        no        default (high + low + close) / 3
trades      no        number of trades, default 0
==========  ========  ===============================================================

The whole file is validated before anything is written; the first bad row is
reported with its row number (1 = the first data row; in a CSV that is line
2) and nothing from the file is kept. With ``--calendar``, 1m rows are rolled
up to 5m ... 1d, and the weeks and months (``1w``, ``1M``) that the file's 1d
bars (imported or rolled up) touch are recomputed from every stored 1d bar.
Rows are stored with ``source`` = ``import:<file name>`` unless ``--source``
says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from quantdesk.backfill.periods import refresh_periods
from quantdesk.bars import rollup_bars
from quantdesk.calendars import get_calendar
from quantdesk.domain import BAR_COLUMNS, SESSION_INTERVALS, normalize_interval
from quantdesk.domain.intervals import ALIASES, INTERVALS
from quantdesk.errors import DataError, ImportFileError
from quantdesk.storage.base import Store

REQUIRED = ("time", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class ImportReport:
    rows: int
    symbols: int
    rolled_up: int


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame with lower-case column names."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt", ".gz"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            raise ImportFileError(f"{path}: unknown file type {suffix!r}: use .csv or .parquet")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ImportFileError(f"{path}: cannot read file ({exc})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def _bad_row(path: Path, mask: np.ndarray, what: str, frame: pd.DataFrame, column: str) -> None:
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        value = frame[column].iloc[i] if column in frame.columns else ""
        raise ImportFileError(f"{path.name}: row {i + 1}: {what} (got {column}={value!r})")


def _times(path: Path, raw: pd.Series, tz: str) -> np.ndarray:
    text = raw.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all():
        values = numeric.to_numpy(dtype=np.float64)
        ms = np.where(values < 1e11, values * 1000, values)  # seconds vs milliseconds
        return ms.astype(np.int64)
    parsed = pd.to_datetime(text, errors="coerce", utc=False, format="mixed")
    _bad_row(
        path,
        parsed.isna().to_numpy(),
        "time is not ISO 8601 or epoch",
        raw.to_frame("time"),
        "time",
    )
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(tz)
    return parsed.dt.tz_convert("UTC").dt.as_unit("ms").astype("int64").to_numpy()


def parse_bars(
    path: Path,
    frame: pd.DataFrame,
    *,
    symbol: str | None,
    interval: str,
    source: str,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Validate a raw table and return it in ``market_klines`` form."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if "symbol" not in frame.columns and symbol is None:
        missing.insert(0, "symbol")
    if missing:
        raise ImportFileError(
            f"{path.name}: missing column(s) {', '.join(missing)} "
            f"(need symbol, time, open, high, low, close, volume)"
        )
    if frame.empty:
        raise ImportFileError(f"{path.name}: the file has no rows")
    out = pd.DataFrame(index=frame.index)
    out["symbol"] = frame["symbol"].astype(str).str.strip() if "symbol" in frame else symbol
    _bad_row(path, (out["symbol"] == "").to_numpy(), "empty symbol", frame, "symbol")
    if "interval" in frame.columns:
        try:
            out["interval"] = [normalize_interval(str(v).strip()) for v in frame["interval"]]
        except DataError:
            bad = [str(v).strip() for v in frame["interval"]]
            mask = np.array([b not in INTERVALS and b not in ALIASES for b in bad])
            _bad_row(path, mask, "unknown interval", frame, "interval")
            raise
    else:
        out["interval"] = normalize_interval(interval)
    out["time"] = _times(path, frame["time"], tz)
    for col in ("open", "high", "low", "close", "volume", "vwap", "trades"):
        if col not in frame.columns:
            continue
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
        _bad_row(path, ~np.isfinite(values), f"{col} is not a finite number", frame, col)
        out[col] = values
    for col in ("open", "high", "low", "close"):
        _bad_row(path, out[col].to_numpy() <= 0, f"{col} must be > 0", frame, col)
    lo, hi = out["low"].to_numpy(), out["high"].to_numpy()
    for col in ("open", "close"):
        v = out[col].to_numpy()
        _bad_row(path, (v < lo) | (v > hi), f"{col} outside [low, high]", frame, col)
    _bad_row(path, out["volume"].to_numpy() < 0, "volume must be >= 0", frame, "volume")
    if "vwap" not in out.columns:
        out["vwap"] = (out["high"] + out["low"] + out["close"]) / 3
    if "trades" not in out.columns:
        out["trades"] = 0
    _bad_row(path, out["trades"].to_numpy() < 0, "trades must be >= 0", frame, "trades")
    out["trades"] = out["trades"].astype(np.int64)
    dup = out.duplicated(subset=["symbol", "interval", "time"]).to_numpy()
    _bad_row(path, dup, "duplicate bar (same symbol, interval and time)", frame, "time")
    out["source"] = source
    return out[list(BAR_COLUMNS)].reset_index(drop=True)


def import_file(
    store: Store,
    path: Path,
    *,
    symbol: str | None = None,
    interval: str = "1m",
    source: str | None = None,
    tz: str = "UTC",
    calendar: str | None = None,
) -> ImportReport:
    """Validate the whole file, then upsert it (and, for 1m data with a calendar, its rollups)."""
    frame = read_table(path)
    bars = parse_bars(
        path, frame, symbol=symbol, interval=interval, source=source or f"import:{path.name}", tz=tz
    )
    rolled = pd.DataFrame(columns=list(BAR_COLUMNS))
    minute = bars[bars["interval"] == "1m"]
    if calendar is not None and not minute.empty:
        rolled = rollup_bars(minute, SESSION_INTERVALS[1:], calendar=calendar)
        rolled = rolled[list(BAR_COLUMNS)]
    store.upsert_bars(pd.concat([bars, rolled], ignore_index=True) if len(rolled) else bars)
    rolled_up = len(rolled)
    if calendar is not None:
        days = pd.concat([bars[bars["interval"] == "1d"], rolled[rolled["interval"] == "1d"]])
        cal = get_calendar(calendar)
        for sym, group in days.groupby("symbol"):
            times = group["time"].to_numpy(dtype=np.int64)
            rolled_up += refresh_periods(
                store, [str(sym)], int(times.min()), int(times.max()) + 1, cal
            )
    return ImportReport(rows=len(bars), symbols=bars["symbol"].nunique(), rolled_up=rolled_up)
