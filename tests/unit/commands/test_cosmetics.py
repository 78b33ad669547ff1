"""CLI cosmetics: flags without <bool>, universe as a table, config printed one way."""

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
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["backfill"],
        ["worker"],
        ["replay"],
        ["users", "set-password"],
        ["ingest", "finnhub"],
    ],
)
def test_help_shows_no_type_after_plain_flags(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "150"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    if command == ["run"]:
        assert "<int>" in result.output  # options with a value keep their type
        test_line = next(line for line in result.output.splitlines() if "--test" in line)
        assert "ignore sessions" in test_line


def test_universe_is_a_table_long_names_do_not_run_into_sectors(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_name = "The Extraordinarily Long-Named Holding Company of Shenzhen Ltd"
    (env / "u.csv").write_text(
        "symbol,name,market,sector,base_price,volatility,base_volume\n"
        f"000999.SZ,{long_name},cn,Conglomerates,12.5,0.3,100000\n"
        "600000.SH,Short,cn,Banks,8.5,0.22,170000\n"
    )
    monkeypatch.setenv("QUANTDESK_UNIVERSE_FILE", str(env / "u.csv"))
    result = runner.invoke(app, ["universe"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if "symbol" in line)
    assert header.split() == [
        "symbol",
        "name",
        "sector",
        "base",
        "price",
        "volatility",
        "base",
        "volume",
    ]
    row = next(line for line in lines if "000999.SZ" in line)
    assert f"{long_name}  " in row  # the whole name, then a column gap
    assert row.split(long_name)[1].split() == ["Conglomerates", "12.50", "30%", "100,000"]


def test_config_prints_unset_settings_one_way(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_TUSHARE_TOKEN", "a-secret-token")
    monkeypatch.delenv("QUANTDESK_UNIVERSE_FILE", raising=False)
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    values = dict(line.split("=", 1) for line in result.output.splitlines())
    assert "None" not in values.values()
    assert values["QUANTDESK_UNIVERSE_FILE"] == "" and values["QUANTDESK_HISTORY_DIR"] == ""
    assert values["QUANTDESK_DATABASE_URL"] == "" and values["QUANTDESK_JWT_SECRET"] == ""
    assert values["QUANTDESK_TUSHARE_TOKEN"] == "***" and "a-secret-token" not in result.output
    assert values["QUANTDESK_CAPTURE_TICKS"] == "false"
    assert values["QUANTDESK_SIGNAL_RULES"].startswith('[{"id":"obi"')
