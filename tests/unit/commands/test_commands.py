"""The CLI as a user calls it: help, backfill, import, config errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from quantdesk.commands import app
from quantdesk.storage import open_store

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def store_for(env: Path):
    return open_store(f"sqlite:///{env / 'data' / 'quantdesk.db'}")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["serve"],
        ["backfill"],
        ["import"],
        ["universe"],
        ["config"],
        ["db"],
        ["db", "migrate"],
        ["db", "status"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_backfill_twice_never_duplicates(env: Path) -> None:
    first = runner.invoke(app, ["backfill", "--days", "3", "--symbol", "600036.SH"])
    assert first.exit_code == 0, first.output
    with store_for(env) as store:
        count = store.count_bars()
        minute = store.count_bars("600036.SH", "1m")
        days = store.query_bars("600036.SH", "1d")
        periods = store.count_bars("600036.SH", "1w") + store.count_bars("600036.SH", "1M")
    assert minute == 3 * 240
    # the ISO weeks and calendar months of the 3 days: one bar each
    local = [pd.Timestamp(d[2], unit="ms", tz="Asia/Shanghai") for d in days]
    weeks = {t.isocalendar()[:2] for t in local}
    months = {(t.year, t.month) for t in local}
    assert periods == len(weeks) + len(months)
    # 1m + 5m + 15m + 30m + 60m (4/day) + 120m (2/day) + 1d per day, + weeks and months
    assert count == 3 * (240 + 48 + 16 + 8 + 4 + 2 + 1) + periods
    again = runner.invoke(app, ["backfill", "--days", "3", "--symbol", "600036.SH"])
    assert again.exit_code == 0
    with store_for(env) as store:
        assert store.count_bars() == count


def test_backfill_us_and_clear(env: Path) -> None:
    result = runner.invoke(app, ["backfill", "--days", "1", "--market", "us", "--symbol", "AAPL"])
    assert result.exit_code == 0, result.output
    cleared = runner.invoke(
        app, ["backfill", "--days", "1", "--market", "us", "--symbol", "AAPL", "--clear"]
    )
    assert cleared.exit_code == 0
    with store_for(env) as store:
        rows = store.query_bars("AAPL", "1d", None, None, 10)
    assert len(rows) == 1
    opens = pd.Timestamp(rows[0][2], unit="ms", tz="UTC").tz_convert("America/New_York")
    assert (opens.hour, opens.minute) == (9, 30)


def test_backfill_unknown_symbol_is_one_line(env: Path) -> None:
    result = runner.invoke(app, ["backfill", "--days", "1", "--symbol", "NOPE"])
    assert result.exit_code == 2
    assert "unknown symbol 'NOPE'" in result.output


def test_bad_setting_names_the_variable(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_API_PORT", "70000")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert "QUANTDESK_API_PORT" in result.output and "70000" in result.output


def test_toml_file_and_masked_password(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (env / "quantdesk.toml").write_text('[quantdesk]\nmarket = "us"\nseed = 9\n')
    monkeypatch.setenv("QUANTDESK_DATABASE_URL", "postgresql://bob:s3cret@db.example/qd")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0
    assert "QUANTDESK_MARKET=us" in result.output and "QUANTDESK_SEED=9" in result.output
    assert "s3cret" not in result.output and "bob:***@" in result.output


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("symbol,time,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def test_import_csv_with_rollup(env: Path) -> None:
    day = dt.date(2026, 11, 20)
    rows = [f"600036.SH,{day}T09:{30 + i}:00+08:00,10,11,9.5,10.{i},100" for i in range(10)]
    path = write_csv(env / "bars.csv", rows)
    result = runner.invoke(app, ["import", str(path), "--calendar", "XSHG"])
    assert result.exit_code == 0, result.output
    with store_for(env) as store:
        minute = store.query_bars("600036.SH", "1m")
        five = store.query_bars("600036.SH", "5m")
    assert len(minute) == 10 and minute[0][-1] == "import:bars.csv"
    assert [r[7] for r in five] == [500.0, 500.0]


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("600036.SH,2026-11-20T01:33:00Z,10,9,9.5,10,100", "row 3: open outside [low, high]"),
        ("600036.SH,not-a-time,10,11,9,10,100", "row 3: time"),
        ("600036.SH,2026-11-20T01:33:00Z,10,11,9,10,-5", "row 3: volume must be >= 0"),
        ("600036.SH,2026-11-20T01:33:00Z,10,11,9,nan,100", "row 3: close is not a finite number"),
        ("600036.SH,2026-11-20T01:31:00Z,10,11,9,10,100", "row 3: duplicate bar"),
    ],
)
def test_bad_import_is_rejected_whole(env: Path, bad_row: str, message: str) -> None:
    rows = [
        "600036.SH,2026-11-20T01:30:00Z,10,11,9,10,100",
        "600036.SH,2026-11-20T01:31:00Z,10,11,9,10,100",
        bad_row,
    ]
    path = write_csv(env / "bad.csv", rows)
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 2
    assert message in result.output
    with store_for(env) as store:
        store.migrate()
        assert store.count_bars() == 0


def test_import_parquet_epoch_ms(env: Path) -> None:
    frame = pd.DataFrame(
        {
            "time": [1_795_138_200_000],
            "open": [1.0],
            "high": [1.0],
            "low": [1.0],
            "close": [1.0],
            "volume": [5],
        }
    )
    path = env / "aapl.parquet"
    frame.to_parquet(path)
    result = runner.invoke(app, ["import", str(path), "--symbol", "AAPL", "--interval", "1d"])
    assert result.exit_code == 0, result.output
    with store_for(env) as store:
        assert store.query_bars("AAPL", "1d")[0][2] == 1_795_138_200_000


def test_import_missing_column(env: Path) -> None:
    path = env / "x.csv"
    path.write_text("symbol,time,open\nA,1,1\n")
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 2 and "missing column(s)" in result.output


def test_backfilled_aggregates_equal_the_rollup_of_their_1m_bars(env: Path) -> None:
    from quantdesk.bars import rollup_bars
    from quantdesk.domain import BAR_COLUMNS, ROLLUP_INTERVALS

    result = runner.invoke(app, ["backfill", "--days", "4"])
    assert result.exit_code == 0, result.output
    with store_for(env) as store:
        symbols = [m.symbol for m in store.list_metadata()]
        minute = pd.DataFrame(
            [r for s in symbols for r in store.query_bars(s, "1m")], columns=list(BAR_COLUMNS)
        )
        stored = pd.DataFrame(
            [r for s in symbols for iv in ROLLUP_INTERVALS for r in store.query_bars(s, iv)],
            columns=list(BAR_COLUMNS),
        )
    assert len(symbols) == 10 and len(minute) == 10 * 4 * 240
    rolled = rollup_bars(minute, calendar="XSHG")
    key = ["symbol", "interval", "time"]
    merged = stored.merge(rolled, on=key, suffixes=("", "_r"), how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    for col in ("open", "high", "low", "close", "volume", "trades"):
        assert (merged[col] == merged[col + "_r"]).all(), col
    assert ((merged["vwap"] - merged["vwap_r"]).abs() <= 1e-9 * merged["vwap"]).all()
    # session-anchored: every 60m bar starts at 9:30, 10:30, 13:00 or 14:00 Shanghai time
    hours = pd.to_datetime(stored[stored.interval == "60m"].time, unit="ms", utc=True)
    local = hours.dt.tz_convert("Asia/Shanghai").dt.strftime("%H:%M")
    assert set(local) == {"09:30", "10:30", "13:00", "14:00"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--tweets", "twitter"],
            "--tweets: unknown tweet source 'twitter'; known: file, http, mock, none",
        ),
        (["--tweets", "file:nope.jsonl"], "tweet file nope.jsonl does not exist"),
        (
            ["--source", "kafka"],
            "--source: unknown source 'kafka'; known: finnhub, replay, simulator",
        ),
        (["--source", "replay"], "replay:PATH needs the capture folder"),
        (["--source", "replay:nope"], "replay:nope: no such capture folder"),
        (["--source", "simulator:x"], "simulator takes no argument"),
        (["--symbols", "ZZZ.SH"], "--symbols: ZZZ.SH not in the cn universe; known: 000001.SZ"),
    ],
)
def test_run_refuses_bad_sources_and_tweet_feeds_in_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.delenv("QUANTDESK_TWEETS", raising=False)
    result = runner.invoke(app, ["run", "--days", "0", "--no-api", "--test", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
