"""Dated downloads from a history provider (a local server speaking Eastmoney's API):
``backfill --start --end --symbols`` asks each symbol for exactly the dates' sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantdesk.backfill.run import run_backfill
from quantdesk.commands import app
from quantdesk.config import load_settings
from quantdesk.storage import open_store
from tests.integration.test_history_backfill import eastmoney_by_dates
from tests.unit.history.conftest import ProviderServer, Reply, Request

NOW = dt.datetime(2024, 1, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    srv = ProviderServer()
    yield srv
    srv.close()


def test_provider_dated_download_of_several_symbols(server: ProviderServer, tmp_path: Path) -> None:
    asked: list[tuple[str, str, str]] = []

    def answer(req: Request) -> Reply:
        asked.append((req.query["secid"], req.query["beg"], req.query["end"]))
        return eastmoney_by_dates(req)

    server.route("/em/", answer)
    settings = load_settings(data_dir=tmp_path, eastmoney_url=server.url + "/em")
    with open_store(settings.resolved_database_url) as store:
        store.migrate()
        report = run_backfill(
            store,
            settings,
            days=30,
            symbol=["600036.SH", "000001"],
            source="akshare",
            start=dt.date(2023, 12, 28),  # over New Year: the 1st is a holiday
            end=dt.date(2024, 1, 3),
            now=NOW,
        )
        assert report.failures == () and set(report.providers) == {"600036.SH", "000001.SZ"}
        assert report.days == 4 and report.bars_1m == 2 * 4 * 240
        assert {(b, e) for _, b, e in asked} == {("20231228", "20240103")}
        assert store.count_bars("000001.SZ", "1d") == 4


def test_cli_dated_download_from_a_provider(
    server: ProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    server.route("/em/", eastmoney_by_dates)
    env = {"QUANTDESK_DATA_DIR": str(tmp_path), "QUANTDESK_EASTMONEY_URL": server.url + "/em"}
    result = CliRunner().invoke(
        app,
        [
            "backfill",
            "--source",
            "akshare",
            "--start",
            "2024-01-02",
            "--end",
            "2024-01-03",
            "--symbols",
            "600036.SH,600000.SH",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "2 symbols x 2 days (2024-01-02 .. 2024-01-03): 960 1m bars" in result.output
    assert "600000.SH: from akshare" in result.output
