"""Every option is checked at the boundary and a bad value is blamed on the option itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantdesk.commands import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bars.csv").write_text("symbol,time,open,high,low,close,volume\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["backfill", "--days", "0"], "--days: must be >= 1 (got 0)"),
        (["backfill", "--days", "-3"], "--days: must be >= 1 (got -3)"),
        (["backfill", "--source", "nope"], "--source: use one of simulator, auto, akshare"),
        (["backfill", "--market", "jp"], "--market: Input should be 'cn' or 'us' (got 'jp')"),
        (["universe", "--market", "jp"], "--market: Input should be 'cn' or 'us' (got 'jp')"),
        (["replay", ".", "--market", "jp"], "--market: "),
        (["worker", "--market", "jp"], "--market: "),
        (["run", "--market", "jp"], "--market: "),
        (["run", "--port", "70000"], "--port: must be between 1 and 65535 (got 70000)"),
        (["serve", "--port", "0"], "--port: must be between 1 and 65535 (got 0)"),
        (["run", "--days", "-1"], "--days: must be >= 0 (got -1)"),
        (["run", "--speed", "-1"], "--speed: must be >= 0 (got -1.0)"),
        (["run", "--tweets", "bogus"], "--tweets: unknown tweet source 'bogus'; known: file"),
        (["run", "--clock", "moon"], "--clock: use virtual or wall"),
        (["worker", "--group", " "], "--group: give the consumer group's name"),
        (["import", "bars.csv", "--interval", "7m"], "--interval: use one of 1m, 5m"),
        (["import", "bars.csv", "--tz", "Mars/Base"], "--tz: not a time zone"),
        (["import", "bars.csv", "--calendar", "XXXX"], "--calendar: use one of XNYS, XSHE, XSHG"),
        (["export", "out.x", "--format", "xml"], "--format: use parquet or csv (got 'xml')"),
        (["export", "out.x", "--interval", "7m"], "--interval: use one of 1m, 5m"),
        (["export", "out.x", "--start", "yesterday"], "--start: not an ISO 8601"),
        (["ingest", "finnhub", "--symbols", ","], "--symbols: give at least one symbol"),
        (["sentiment", "mock", "--rate", "-1"], "--rate: must be > 0 (got -1.0)"),
        (["sentiment", "mock", "--market", "jp"], "--market: use cn or us (got 'jp')"),
    ],
)
def test_bad_option_is_one_line_naming_the_option(env: Path, args: list[str], line: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {line}"), result.output
    assert result.output.count("\n") == 1
    assert "QUANTDESK_" not in result.output
    assert not (env / "data" / "quantdesk.db").exists() or args[0] in ("export", "replay")


def test_a_bad_variable_is_still_blamed_on_the_variable(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTDESK_MARKET", "jp")
    result = runner.invoke(app, ["universe"])
    assert result.exit_code == 2
    assert result.output == "error: QUANTDESK_MARKET: Input should be 'cn' or 'us' (got 'jp')\n"
