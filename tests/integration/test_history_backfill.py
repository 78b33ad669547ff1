"""`quantdesk backfill --source`: real-provider bars (local HTTP servers), rolled up, tagged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantdesk.backfill.run import run_backfill
from quantdesk.calendars import get_calendar
from quantdesk.commands import app
from quantdesk.config import load_settings
from quantdesk.storage import open_store
from tests.unit.history import _answers as A
from tests.unit.history.conftest import ProviderServer, Reply, Request

NOW = dt.datetime(2024, 1, 3, 12, 0, tzinfo=dt.UTC)  # 2024-01-02 is the last completed day


def eastmoney_by_dates(req: Request) -> Reply:
    """Answer every session minute of the requested days, like Eastmoney does."""
    cal = get_calendar("cn")
    beg = dt.datetime.strptime(req.query["beg"], "%Y%m%d").date()
    end = dt.datetime.strptime(req.query["end"], "%Y%m%d").date()
    rows = [r for day in cal.trading_days(beg, end) for r in A.session_bars("cn", day)]
    return Reply(body=A.eastmoney(rows))


@pytest.fixture
def server() -> ProviderServer:
    srv = ProviderServer()
    yield srv  # type: ignore[misc]
    srv.close()


def test_backfill_auto_fails_over_and_tags_source(server: ProviderServer, tmp_path: Path) -> None:
    server.route("/yahoo/", Reply(429, "Too Many Requests"))
    server.route("/em/", eastmoney_by_dates)
    settings = load_settings(
        data_dir=tmp_path,
        history_sources="yahoo,akshare",
        yahoo_url=server.url + "/yahoo",
        eastmoney_url=server.url + "/em",
    )
    store = open_store(settings.resolved_database_url)
    report = run_backfill(store, settings, days=1, symbol="600036.SH", source="auto", now=NOW)
    assert report.providers == {"600036.SH": "akshare"} and report.failures == ()
    assert report.bars_1m == 240
    assert store.count_bars("600036.SH", "1m") == 240
    assert store.count_bars("600036.SH", "60m") == 4  # lunch break respected
    assert store.count_bars("600036.SH", "1d") == 1
    sources = {row[-1] for i in ("1m", "5m", "1d") for row in store.query_bars("600036.SH", i)}
    assert sources == {"akshare"}
    store.close()


def test_cli_backfill_source_option(
    server: ProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray quantdesk.toml / .env
    server.route("/em/", eastmoney_by_dates)
    env = {
        "QUANTDESK_DATA_DIR": str(tmp_path),
        "QUANTDESK_EASTMONEY_URL": server.url + "/em",
    }
    runner = CliRunner()
    result = runner.invoke(
        app, ["backfill", "--days", "1", "--symbol", "600036.SH", "--source", "akshare"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "600036.SH: from akshare" in result.output
    bad = runner.invoke(
        app, ["backfill", "--days", "1", "--symbol", "600036.SH", "--source", "nope"], env=env
    )
    assert bad.exit_code == 2 and "--source: use one of simulator, auto, akshare" in bad.output


def test_real_history_never_rewrites_stored_bars(server: ProviderServer, tmp_path: Path) -> None:
    from quantdesk.errors import HistoryConflictError

    server.route("/em/", eastmoney_by_dates)
    settings = load_settings(data_dir=tmp_path, eastmoney_url=server.url + "/em")
    store = open_store(settings.resolved_database_url)
    first = run_backfill(store, settings, days=1, symbol="600036.SH", source="akshare", now=NOW)
    assert first.bars_1m == 240
    before = store.query_bars("600036.SH", "1m")
    two = run_backfill(store, settings, days=2, symbol="600036.SH", source="akshare", now=NOW)
    assert two.bars_1m == 240  # only the day that was missing
    assert store.query_bars("600036.SH", "1m", before[0][2], None, None) == before
    assert store.count_bars("600036.SH", "1d") == 2
    # simulated bars in the window are never mixed with real ones
    run_backfill(store, settings, days=1, symbol="600519.SH", now=NOW)
    with pytest.raises(HistoryConflictError, match=r"holds simulator bars.*--clear"):
        run_backfill(store, settings, days=1, symbol="600519.SH", source="akshare", now=NOW)
    store.close()
