"""The CLI resolves symbols like the API: bare codes, any case; unknown ones exit 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from quantdesk.commands import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["backfill", "--days", "1", "--symbol", "600036"])  # bare code
    assert result.exit_code == 0, result.output
    assert "1 symbols x 1 days" in result.output
    return tmp_path


def test_export_of_an_unknown_symbol_exits_2_with_the_nearest(env: Path) -> None:
    result = runner.invoke(app, ["export", "out.parquet", "--symbol", "AAPL"])
    assert result.exit_code == 2
    assert result.output.startswith("error: unknown symbol 'AAPL': ")
    assert "see quantdesk universe" in result.output
    assert not (env / "out.parquet").exists()
    near = runner.invoke(app, ["export", "out.parquet", "--symbol", "600037.SH"])
    assert near.exit_code == 2 and "did you mean 600036.SH" in near.output


@pytest.mark.parametrize("spelling", ["600036", "600036.sh", "sh600036"])
def test_export_resolves_spellings(env: Path, spelling: str) -> None:
    result = runner.invoke(app, ["export", "out.parquet", "--symbol", spelling, "--interval", "1d"])
    assert result.exit_code == 0, result.output
    assert set(pd.read_parquet(env / "out.parquet")["symbol"]) == {"600036.SH"}


def test_backfill_names_the_nearest_symbol(env: Path) -> None:
    result = runner.invoke(app, ["backfill", "--days", "1", "--symbol", "600037"])
    assert result.exit_code == 2
    assert "unknown symbol '600037'" in result.output and "600036.SH" in result.output
