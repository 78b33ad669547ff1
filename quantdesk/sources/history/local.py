"""Local files, the last resort: bars a user (or ``quantdesk export``) put on disk.

Looks for ``<dir>/<name>/<symbol>_<name>.csv`` (``name``: ``1min 5min 15min
30min 1h 2h 1d``, the seed-E layout that
:class:`~quantdesk.export.CsvBarExporter` writes: ``timestamp,open,high,low,
close,vwap,volume,num_transactions``), ``.parquet`` beside it (columns as
``quantdesk import`` reads them), or the same with our interval names
(``1m``). ``<dir>`` is ``QUANTDESK_HISTORY_DIR``, default ``<data_dir>/raw``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pandas as pd

from quantdesk.backfill.importer import parse_bars, read_table
from quantdesk.config import Settings
from quantdesk.domain import BAR_COLUMNS, normalize_interval
from quantdesk.errors import ImportFileError
from quantdesk.export.csv_bars import csv_interval_name
from quantdesk.sources.history.base import HistoryProvider
from quantdesk.sources.history.symbols import canonical


class LocalFilesProvider(HistoryProvider):
    name: ClassVar[str] = "local"
    default_timeout: ClassVar[float] = 30.0
    intervals: ClassVar[frozenset[str]] = frozenset({"1m", "5m", "15m", "30m", "60m", "120m", "1d"})

    def __init__(self, root: Path, timeout: float | None = None) -> None:
        super().__init__(timeout)
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalFilesProvider:
        return cls(settings.history_dir or settings.data_dir / "raw")

    def path_for(self, symbol: str, interval: str) -> Path | None:
        """The first existing file: seed-E names (``1min``) first, then ours (``1m``)."""
        for name in dict.fromkeys((csv_interval_name(interval), interval)):
            for suffix in (".csv", ".parquet"):
                path = self.root / name / f"{symbol}_{name}{suffix}"
                if path.is_file():
                    return path
        return None

    def fetch(self, symbol: str, interval: str, start: int, end: int) -> pd.DataFrame:
        interval = normalize_interval(interval)
        symbol = canonical(symbol)
        path = self.path_for(symbol, interval)
        if path is None:
            name = csv_interval_name(interval)
            raise self.fail(f"no file {self.root / name / f'{symbol}_{name}.csv'}")
        try:
            raw = read_table(path)
            if "time" not in raw.columns and "timestamp" in raw.columns:
                raw = raw.rename(columns={"timestamp": "time"})
            if "trades" not in raw.columns and "num_transactions" in raw.columns:
                raw = raw.rename(columns={"num_transactions": "trades"})
            bars = parse_bars(
                path, raw, symbol=symbol, interval=interval, source=self.name, tz="UTC"
            )
        except ImportFileError as exc:
            raise self.fail(f"bad file: {exc}") from None
        bars = bars[(bars["symbol"] == symbol) & (bars["interval"] == interval)]
        bars = bars[(bars["time"] >= start) & (bars["time"] < end)]
        return bars[list(BAR_COLUMNS)].reset_index(drop=True)
