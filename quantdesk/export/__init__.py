"""Bar export: seed-E CSV files (live, append-only) and Parquet/CSV dumps of stored bars.

CSV layout (seed E): ``<root>/<interval>/<symbol>_<interval>.csv`` with the header
``timestamp,open,high,low,close,vwap,volume,num_transactions``. ``timestamp``
is the bar **start** in ISO 8601 **in the exchange's time zone, with its
offset** (``2026-11-20T09:30:00+08:00`` for ``600036.SH``,
``2026-11-20T09:30:00-05:00`` for ``AAPL``): it reads as seed E's US/Eastern
times and is still one exact instant for any ISO 8601 parser. Intervals use
seed E's names: ``1min 5min 15min 30min 1h`` (and ``2h``, ``1d``).
"""

from quantdesk.export.csv_bars import CSV_HEADER, CsvBarExporter, csv_interval_name, write_csv
from quantdesk.export.dump import ExportReport, export_bars

__all__ = [
    "CSV_HEADER",
    "CsvBarExporter",
    "ExportReport",
    "csv_interval_name",
    "export_bars",
    "write_csv",
]
