"""Seed-E CSV files, appended as bars close; never a bar twice, even after a restart."""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from quantdesk.domain import Bar
from quantdesk.domain.time import iso_seconds, to_ms
from quantdesk.errors import DataError

CSV_HEADER = "timestamp,open,high,low,close,vwap,volume,num_transactions"
_NAMES = {
    "1m": "1min",
    "5m": "5min",
    "15m": "15min",
    "30m": "30min",
    "60m": "1h",
    "120m": "2h",
    "1d": "1d",
    "1w": "1w",
    "1M": "1mo",  # not "1M": a folder apart from "1m" on case-insensitive file systems too
}
_CN_SUFFIXES = (".SH", ".SZ", ".BJ", ".SS")


def csv_interval_name(interval: str) -> str:
    """Our interval name -> seed E's (``1m`` -> ``1min``, ``60m`` -> ``1h``)."""
    try:
        return _NAMES[interval]
    except KeyError:
        raise DataError(f"unknown interval {interval!r}: use one of {', '.join(_NAMES)}") from None


def exchange_tz(symbol: str) -> ZoneInfo:
    """Asia/Shanghai for A-shares, America/New_York otherwise."""
    up = symbol.upper()
    return ZoneInfo("Asia/Shanghai" if up.endswith(_CN_SUFFIXES) else "America/New_York")


def iso_time(t_ms: int, tz: ZoneInfo) -> str:
    """A bar start as ISO 8601 to the second with the exchange's offset."""
    return iso_seconds(t_ms, tz)


def _num(x: float) -> str:
    return repr(float(x))


def bar_line(bar: Bar, tz: ZoneInfo) -> str:
    return ",".join(
        (
            iso_time(bar.time, tz),
            _num(bar.open),
            _num(bar.high),
            _num(bar.low),
            _num(bar.close),
            _num(bar.vwap),
            _num(bar.volume),
            str(int(bar.trades)),
        )
    )


def csv_path(root: Path, symbol: str, interval: str) -> Path:
    name = csv_interval_name(interval)
    return root / name / f"{symbol}_{name}.csv"


def _last_time(path: Path) -> int | None:
    """Bar start (epoch ms) of the file's last complete line, or None."""
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        tail = fh.read().decode("utf-8", errors="replace")
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    for line in reversed(lines):
        head = line.split(",", 1)[0]
        if head == "timestamp":
            return None
        try:
            return to_ms(dt.datetime.fromisoformat(head))
        except ValueError:
            continue
    return None


class CsvBarExporter:
    """Append final bars to seed-E CSV files (opt-in sink for the runtime).

    ``on_bars(bars)`` ignores bars still forming (``final=False``) and any bar
    not newer than the last one in its file (read back from the file on first
    use, so a restart never writes a bar twice). A line is only ever written
    whole (a torn last line after a crash is completed by a newline first).
    """

    def __init__(self, root: Path | str, intervals: Iterable[str] | None = None) -> None:
        self.root = Path(root)
        self.intervals = set(intervals) if intervals is not None else None
        self._last: dict[tuple[str, str], int | None] = {}
        self._lock = threading.Lock()
        self.rows_written = 0

    def on_bars(self, bars: Iterable[Bar]) -> int:
        """Append the final bars; returns how many lines were written."""
        groups: dict[tuple[str, str], list[Bar]] = defaultdict(list)
        for bar in bars:
            if not bar.final:
                continue
            if self.intervals is not None and bar.interval not in self.intervals:
                continue
            groups[(bar.symbol, bar.interval)].append(bar)
        written = 0
        with self._lock:
            for (symbol, interval), group in groups.items():
                written += self._append(symbol, interval, group)
        self.rows_written += written
        return written

    def _append(self, symbol: str, interval: str, bars: list[Bar]) -> int:
        path = csv_path(self.root, symbol, interval)
        key = (symbol, interval)
        if key not in self._last:
            self._last[key] = _last_time(path)
        last = self._last[key]
        lines = []
        tz = exchange_tz(symbol)
        for bar in sorted(bars, key=lambda b: b.time):
            if last is not None and bar.time <= last:
                continue
            lines.append(bar_line(bar, tz))
            last = bar.time
        if not lines:
            return 0
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.is_file() or path.stat().st_size == 0
        with path.open("a+b") as fh:
            prefix = ""
            if new:
                prefix = CSV_HEADER + "\n"
            else:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    prefix = "\n"
            fh.write((prefix + "\n".join(lines) + "\n").encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        self._last[key] = last
        return len(lines)


def write_csv(frame: pd.DataFrame, root: Path) -> list[Path]:
    """Write stored bars (``market_klines`` columns) as seed-E CSV files (replacing them)."""
    paths = []
    for (symbol, interval), group in frame.groupby(["symbol", "interval"], sort=True):
        path = csv_path(root, str(symbol), str(interval))
        path.parent.mkdir(parents=True, exist_ok=True)
        tz = exchange_tz(str(symbol))
        out = pd.DataFrame(
            {
                "timestamp": [iso_time(int(t), tz) for t in group["time"]],
                "open": group["open"].to_numpy(),
                "high": group["high"].to_numpy(),
                "low": group["low"].to_numpy(),
                "close": group["close"].to_numpy(),
                "vwap": group["vwap"].to_numpy(),
                "volume": group["volume"].to_numpy(),
                "num_transactions": group["trades"].astype("int64").to_numpy(),
            }
        )
        out.to_csv(path, index=False)
        paths.append(path)
    return paths
