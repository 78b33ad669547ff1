"""Seed A's dated download: ``backfill --start DATE --end DATE --symbols A,B,C``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantdesk.backfill.run import dated_window, run_backfill
from quantdesk.calendars import get_calendar
from quantdesk.commands import app
from quantdesk.config import load_settings
from quantdesk.errors import DataError, NotFoundError
from quantdesk.storage import open_store

NOW = dt.datetime(2024, 2, 20, 3, 0, tzinfo=dt.UTC)  # 11:00 in Shanghai: the 20th trades
D = dt.date


def test_window_is_the_trading_days_between_the_dates() -> None:
    cal = get_calendar("cn")
    # 2024-02-09 .. 2024-02-19: the Spring Festival closes the 9th to the 16th
    assert dated_window(cal, D(2024, 2, 5), D(2024, 2, 19), NOW) == [
        D(2024, 2, 5),
        D(2024, 2, 6),
        D(2024, 2, 7),
        D(2024, 2, 8),
        D(2024, 2, 19),
    ]
    assert dated_window(cal, D(2024, 2, 19), None, NOW) == [D(2024, 2, 19)]  # not the 20th yet
    assert dated_window(cal, D(2024, 2, 19), D(2024, 2, 20), NOW) == [D(2024, 2, 19)]
    us = get_calendar("us")
    assert dated_window(us, D(2023, 12, 29), D(2024, 1, 2), NOW) == [D(2023, 12, 29), D(2024, 1, 2)]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (D(2024, 2, 8), D(2024, 2, 1), "--end: 2024-02-01 is before --start 2024-02-08"),
        (D(2024, 2, 1), D(2024, 3, 1), "--end: 2024-03-01 is in the future"),
        (D(2024, 3, 1), None, "--start: 2024-03-01 is in the future"),
        (D(2024, 2, 10), D(2024, 2, 17), "no completed trading day from 2024-02-10 to 2024-02-17"),
        (D(1900, 1, 1), D(2024, 1, 2), "--start: 1900-01-01 is before the XSHG calendar"),
    ],
)
def test_bad_ranges_are_one_line(start: D, end: D | None, message: str) -> None:
    with pytest.raises(DataError) as err:
        dated_window(get_calendar("cn"), start, end, NOW)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_simulator_fills_exactly_the_dated_window(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    with open_store(settings.resolved_database_url) as store:
        store.migrate()
        report = run_backfill(
            store,
            settings,
            days=30,
            symbol=["600036", "000001.SZ", "600036.SH"],  # spellings; a repeat counts once
            start=D(2024, 2, 5),
            end=D(2024, 2, 19),
            now=NOW,
        )
        assert (report.symbols, report.days) == (2, 5)
        assert (report.first_day, report.last_day) == (D(2024, 2, 5), D(2024, 2, 19))
        assert store.count_bars("600036.SH", "1m") == 5 * 240
        assert store.count_bars("000001.SZ", "1d") == 5
        assert store.count_bars("600000.SH") == 0  # not asked for
        days = {
            dt.datetime.fromtimestamp(r[2] / 1000, dt.UTC).date()
            for r in store.query_bars("600036.SH", "1d", None, None, 100)
        }
        assert days == {D(2024, 2, 5), D(2024, 2, 6), D(2024, 2, 7), D(2024, 2, 8), D(2024, 2, 19)}
        with pytest.raises(NotFoundError, match="unknown symbol 'AAPL'"):
            run_backfill(store, settings, days=1, symbol=["600036", "AAPL"], now=NOW)
        with pytest.raises(DataError, match="give --start too"):
            run_backfill(store, settings, days=1, end=D(2024, 2, 8), now=NOW)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2024-03-01", "--end", "2024-02-01"], "is before --start 2024-03-01"),
        (["--days", "5", "--start", "2024-01-02"], "--days: give either --days N or --start/--end"),
        (["--start", "2024-13-01"], "--start: not a date YYYY-MM-DD (got '2024-13-01')"),
        (["--start", "2024-02-01", "--end", "tomorrow"], "--end: not a date"),
        (["--end", "2024-01-05"], "--end: give --start too"),
        (["--start", "2999-01-01"], "--start: 2999-01-01 is in the future"),
        (["--start", "2024-02-10", "--end", "2024-02-12"], "no completed trading day"),
        (["--symbol", "600036", "--symbols", "600000"], "either --symbol or --symbols"),
        (["--symbols", " , "], "--symbols: no symbol in"),
        (["--days", "3", "--symbols", "600036,NOPE"], "unknown symbol 'NOPE'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["backfill", *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_cli_dated_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(
        app,
        ["backfill", "--start", "2024-02-05", "--end", "2024-02-19", "--symbols", "600036,000001"],
    )
    assert result.exit_code == 0, result.output
    assert "2 symbols x 5 days (2024-02-05 .. 2024-02-19): 2,400 1m bars" in result.output
