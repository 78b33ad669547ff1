"""Seed-E CSV exporter (append-only, no duplicates) and Parquet/CSV export of stored bars."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from quantdesk.backfill.importer import import_file
from quantdesk.commands.capture import app as capture_app
from quantdesk.config import load_settings
from quantdesk.domain import BAR_COLUMNS, Bar
from quantdesk.export import CSV_HEADER, CsvBarExporter, export_bars
from quantdesk.storage import open_store

T0 = int(dt.datetime(2026, 11, 20, 1, 30, tzinfo=dt.UTC).timestamp() * 1000)  # 09:30 +08:00
MIN = 60_000


def bar(i: int, symbol: str = "600036.SH", interval: str = "1m", final: bool = True) -> Bar:
    p = 30.0 + i * 0.01
    return Bar(
        symbol,
        interval,
        T0 + i * MIN,
        p,
        p + 0.05,
        p - 0.05,
        p + 0.01,
        100.0 * (i + 1),
        p,
        i + 1,
        final=final,
    )


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_csv_appends_final_bars_once_even_after_restart(tmp_path: Path) -> None:
    exp = CsvBarExporter(tmp_path)
    assert exp.on_bars([bar(0), bar(1, final=False)]) == 1
    assert exp.on_bars([bar(1), bar(0), bar(2)]) == 2  # bar 0 again: skipped
    path = tmp_path / "1min" / "600036.SH_1min.csv"
    got = lines(path)
    assert got[0] == CSV_HEADER
    assert got[1].startswith("2026-11-20T09:30:00+08:00,30.0,30.05,")
    assert got[1].endswith(",100.0,1")
    assert len(got) == 4

    restarted = CsvBarExporter(tmp_path)  # a new process: state read back from the file
    assert restarted.on_bars([bar(1), bar(2), bar(3)]) == 1
    got = lines(path)
    assert len(got) == 5 and len(set(got)) == 5
    times = pd.to_datetime([g.split(",")[0] for g in got[1:]], utc=True)
    assert times.is_monotonic_increasing and times.is_unique


def test_csv_completes_a_torn_last_line(tmp_path: Path) -> None:
    exp = CsvBarExporter(tmp_path)
    exp.on_bars([bar(0), bar(1)])
    path = tmp_path / "1min" / "600036.SH_1min.csv"
    path.write_text(path.read_text()[:-1], encoding="utf-8")  # lose the final newline
    CsvBarExporter(tmp_path).on_bars([bar(2)])
    got = lines(path)
    assert len(got) == 4 and got[3].startswith("2026-11-20T09:32:00+08:00,")


def test_csv_layout_per_interval_and_us_time_zone(tmp_path: Path) -> None:
    exp = CsvBarExporter(tmp_path, intervals={"1m", "60m"})
    exp.on_bars([bar(0, "AAPL"), bar(0, "AAPL", "60m"), bar(0, "AAPL", "5m")])
    assert (tmp_path / "1h" / "AAPL_1h.csv").is_file()
    assert not (tmp_path / "5min").exists()
    assert lines(tmp_path / "1min" / "AAPL_1min.csv")[1].startswith("2026-11-19T20:30:00-05:00")


def _stored(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path / "db")
    store = open_store(settings.resolved_database_url)
    frame = pd.DataFrame(
        [b.as_row() for b in [bar(i) for i in range(5)] + [bar(i, "AAPL") for i in range(3)]],
        columns=list(BAR_COLUMNS),
    )
    frame["source"] = ["akshare"] * 5 + ["yahoo"] * 3
    store.upsert_bars(frame)
    return settings, store, frame


def test_parquet_export_round_trip(tmp_path: Path) -> None:
    _settings, store, frame = _stored(tmp_path)
    out = tmp_path / "bars.parquet"
    report = export_bars(
        store, out, symbols=["600036.SH", "AAPL"], interval="1m", start=T0 + MIN, end=T0 + 4 * MIN
    )
    assert report.rows == 3 + 2
    back = pd.read_parquet(out)
    assert str(back["time"].dtype) == "datetime64[ms, UTC]"
    back["time"] = back["time"].astype("int64")
    want = frame[(frame["time"] >= T0 + MIN) & (frame["time"] < T0 + 4 * MIN)]
    want = want.sort_values(["symbol", "time"], ignore_index=True)
    pd.testing.assert_frame_equal(back, want[list(BAR_COLUMNS)], check_dtype=False)

    # and `quantdesk import` takes the file back unchanged
    again = open_store(f"sqlite:///{tmp_path / 'again.db'}")
    import_file(again, out, source=None)
    rows = again.query_bars("600036.SH", "1m")
    assert [r[2] for r in rows] == [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]
    store.close()
    again.close()


def test_cli_export_parquet_and_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _settings, store, _frame = _stored(tmp_path)
    store.close()
    env = {"QUANTDESK_DATA_DIR": str(tmp_path / "db")}
    runner = CliRunner()
    res = runner.invoke(
        capture_app,
        [
            "export",
            str(tmp_path / "x.parquet"),
            "--symbol",
            "AAPL",
            "--interval",
            "1m",
            "--start",
            "2026-11-20T01:31:00+00:00",
        ],
        env=env,
    )
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(tmp_path / "x.parquet")) == 2
    res = runner.invoke(
        capture_app,
        ["export", str(tmp_path / "raw"), "--format", "csv", "--symbol", "600036.SH"],
        env=env,
    )
    assert res.exit_code == 0, res.output
    assert len(lines(tmp_path / "raw" / "1min" / "600036.SH_1min.csv")) == 6
    res = runner.invoke(capture_app, ["export", "y", "--start", "yesterday"], env=env)
    assert res.exit_code == 2 and "--start: not an ISO 8601" in res.output
