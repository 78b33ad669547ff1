"""The jobs that need neither trading nor predictions, on a real SQLite store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from quantdesk.bus.codec import DeadLetter
from quantdesk.domain import Bar, FactorValue, StockMeta
from quantdesk.export import CsvBarExporter
from quantdesk.jobs import JOBS, JobEnvironment
from quantdesk.jobs.clock import ManualClock
from quantdesk.jobs.scheduler import Scheduler
from quantdesk.plugins import Registry
from quantdesk.storage import open_store
from quantdesk.storage.base import PriceRow
from quantdesk.storage.jobs import RunRow
from quantdesk.storage.permissions import PermissionRepository
from tests.unit.jobs.conftest import CN, backfill, local_ms

DAY = 86_400_000


def run_job(env: JobEnvironment, name: str, at_ms: int) -> RunRow:
    """Run one job by hand at exchange time ``at_ms``."""
    reg: Registry[type[Any]] = Registry("job")
    reg.register(name, JOBS.get(name))
    s = Scheduler(env, ManualClock(at_ms), reg, keep_lease=False)
    try:
        s.start()
        return s.run_now(name)
    finally:
        s.close()


def perms(env: JobEnvironment) -> dict[str, Any]:
    return {p.symbol: p for p in PermissionRepository(env.engine).all()}


def write_universe(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["symbol,name,market,sector,base_price,volatility,base_volume"]
    lines += [f"{s},{n},cn,Banks,10.0,0.25,100000" for s, n in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_price_sync_writes_the_last_close_and_keeps_newer_live_prices(
    make_env: Callable[..., JobEnvironment],
) -> None:
    env = make_env()
    backfill(env, 3, dt.datetime(2024, 10, 8, tzinfo=CN.tz))  # up to Monday 2024-09-30
    # a stock in the universe with no bar at all: suspended on the last trading day
    env.store.upsert_metadata(
        [StockMeta("600999.SH", "Halted Co", "cn", "Banks", 9.0, 0.2, 1e5, "XSHG")]
    )
    assert run_job(env, "permission_refresh", local_ms(2024, 10, 8, 8)).status == "ok"
    assert perms(env)["600999.SH"].suspended
    close_930 = local_ms(2024, 9, 30, 15)
    live = PriceRow("600036.SH", close_930 + 5 * DAY, 40.0, 100.0, "simulator")
    env.store.upsert_prices([live])

    run = run_job(env, "price_sync", local_ms(2024, 10, 8, 9))
    assert run.status == "ok", run.error
    prices = {p.symbol: p for p in env.store.get_prices()}
    assert prices["600036.SH"] == live  # newer than any bar: kept
    assert run.outputs["newer_kept"] == ["600036.SH"]
    last = env.store.query_bars("600519.SH", "1m", None, close_930, 1)[0]
    assert prices["600519.SH"].time == close_930 and prices["600519.SH"].price == last[6]
    assert run.outputs["prices_written"] == 9 and run.outputs["no_bars"] == ["600999.SH"]
    assert run.outputs["suspended"] == ["600999.SH"]
    assert run.inputs["last_day"] == "2024-09-30"
    # again: the same prices, nothing written twice
    again = run_job(env, "price_sync", local_ms(2024, 10, 8, 9, 1))
    assert again.outputs["prices_written"] == 0


def test_history_sync_fails_naming_incomplete_stocks_and_fetches_from_a_provider(
    make_env: Callable[..., JobEnvironment], tmp_path: Path
) -> None:
    noon = local_ms(2024, 10, 8, 12)
    # the provider's files: the morning of 2024-10-08 from another simulated store
    other = JobEnvironment.open(load(tmp_path), open_store(f"sqlite:///{tmp_path / 'provider.db'}"))
    backfill(other, 1, dt.datetime(2024, 10, 9, tzinfo=CN.tz))
    exporter = CsvBarExporter(tmp_path / "data" / "raw", intervals=["1m"])
    for meta in other.universe():
        rows = other.store.query_bars(meta.symbol, "1m", noon - 3 * 3_600_000, noon)
        exporter.on_bars(Bar(*r[:10], source="export") for r in rows)  # type: ignore[arg-type]
    other.store.close()

    env = make_env()
    backfill(env, 3, dt.datetime(2024, 10, 8, tzinfo=CN.tz))  # nothing of 10-08 yet
    run = run_job(env, "history_sync", noon)
    assert run.status == "failed"
    assert run.error.startswith("DataError: morning bars incomplete for 10 stocks: 000001.SZ 0/120")
    assert run.error.endswith("set QUANTDESK_JOBS_SYNC_SOURCE to fetch them")

    env = make_env(jobs_sync_source="local")
    run = run_job(env, "history_sync", noon)
    assert run.status == "ok", run.error
    assert run.inputs["expected"] == 120
    assert run.outputs["complete"] == 10
    assert set(run.outputs["fetched"]["providers"].values()) == {"local"}
    stored = env.store.query_bars("600036.SH", "1m", noon - 3 * 3_600_000, noon)
    assert len(stored) == 120 and {r[10] for r in stored} == {"local"}
    # the complete roll-ups of the morning were stored, no partial daily bar
    assert len(env.store.query_bars("600036.SH", "60m", noon - 3 * 3_600_000, noon)) == 2
    assert env.store.query_bars("600036.SH", "1d", local_ms(2024, 10, 8), noon + DAY) == []


def load(tmp_path: Path) -> Any:
    from quantdesk.config import load_settings

    return load_settings(data_dir=tmp_path / "data", backfill_days=0)


def test_stock_list_sync_records_listings_delistings_and_renames(
    make_env: Callable[..., JobEnvironment], tmp_path: Path
) -> None:
    path = write_universe(
        tmp_path / "u.csv",
        [("600001.SH", "Alpha Bank"), ("600002.SH", "Beta Steel"), ("600003.SH", "Gamma")],
    )
    env = make_env(universe_file=path)
    t = local_ms(2024, 10, 8, 8, 30)
    first = run_job(env, "stock_list_sync", t)
    assert first.outputs["listed"] == ["600001.SH", "600002.SH", "600003.SH"]
    assert first.inputs["universe"] == f"file {path}"
    assert {m.symbol for m in env.store.list_metadata()} == {"600001.SH", "600002.SH", "600003.SH"}

    write_universe(
        path, [("600001.SH", "Alpha Bank"), ("600002.SH", "*ST Beta"), ("688001.SH", "Delta")]
    )
    env = make_env(universe_file=path)
    second = run_job(env, "stock_list_sync", t + 3 * DAY)
    assert second.outputs["listed"] == ["688001.SH"]
    assert second.outputs["delisted"] == ["600003.SH"]
    assert second.outputs["renamed"] == ["600002.SH"]
    assert second.outputs["st"] == ["600002.SH"]
    listings = {x.symbol: x for x in PermissionRepository(env.engine).listings()}
    assert listings["600003.SH"].status == "delisted"
    assert listings["600003.SH"].delisted_ms == t + 3 * DAY
    assert listings["600001.SH"].listed_ms == t  # unchanged
    third = run_job(env, "stock_list_sync", t + 6 * DAY)
    assert (
        third.outputs["listed"],
        third.outputs["delisted"],
        third.outputs["metadata_written"],
    ) == (
        [],
        [],
        0,
    )


def test_permission_refresh_derives_board_st_and_suspension(
    make_env: Callable[..., JobEnvironment], tmp_path: Path
) -> None:
    path = write_universe(
        tmp_path / "u.csv",
        [
            ("600010.SH", "Main Co"),
            ("688010.SH", "Star Co"),
            ("300010.SZ", "ChiNext Co"),
            ("830010.BJ", "Beijing Co"),
            ("600011.SH", "*ST Weak"),
        ],
    )
    env = make_env(universe_file=path)
    backfill(env, 2, dt.datetime(2024, 10, 8, tzinfo=CN.tz))
    env.store.upsert_metadata(
        [StockMeta("000010.SZ", "Quiet Co", "cn", "Banks", 9.0, 0.2, 1e5, "XSHG")]
    )
    run = run_job(env, "permission_refresh", local_ms(2024, 10, 8, 8))
    assert run.status == "ok", run.error
    p = perms(env)
    assert {s: x.board for s, x in p.items()} == {
        "600010.SH": "main",
        "688010.SH": "star",
        "300010.SZ": "chinext",
        "830010.BJ": "bse",
        "600011.SH": "main",
        "000010.SZ": "main",
    }
    assert [s for s, x in p.items() if x.st] == ["600011.SH"]
    assert [s for s, x in p.items() if x.suspended] == ["000010.SZ"]
    assert p["000010.SZ"].reason == "no trade on 2024-09-30 while the market traded"
    assert not p["000010.SZ"].tradable and p["600010.SH"].tradable
    assert run.outputs["boards"] == {"main": 3, "star": 1, "chinext": 1, "bse": 1}


class Pruner:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def prune_unaliased(self, keep_newest: int, older_than_ms: int) -> int:
        self.calls.append((keep_newest, older_than_ms))
        return 2


def test_cleanup_applies_every_retention_policy(
    make_env: Callable[..., JobEnvironment], tmp_path: Path
) -> None:
    pruner = Pruner()
    env = make_env(services={"model_versions": pruner})
    now = local_ms(2024, 11, 1, 20)
    old, recent = now - 10 * DAY, now - 2 * DAY
    env.store.upsert_factors(
        [
            FactorValue(s, t + i, "obi", 0.1)
            for s in ("A", "B")
            for t in (old, recent)
            for i in range(3)
        ]
    )
    env.store.add_dead_letters([DeadLetter("bad_json", "trades", b"{", "x")] * 3)
    with env.engine.begin() as conn:  # two of them were stored 40 days ago
        conn.execute(sa.text("UPDATE dead_letters SET time = time - 40 * 86400000 WHERE id <= 2"))
    ticks = tmp_path / "data" / "ticks"
    for kind, day in [("trades", "2024-10-01"), ("trades", "2024-10-30"), ("books", "2024-10-20")]:
        (ticks / kind / f"date={day}" / "symbol=A").mkdir(parents=True)
    s = Scheduler(env, ManualClock(now), keep_lease=False)
    s.start()
    s.repo.record_run(
        "price_sync",
        fire_ms=now - 200 * DAY,
        trigger="schedule",
        status="ok",
        owner="x",
        now_ms=now - 200 * DAY,
        wall_ms=0,
    )
    s.repo.record_run(
        "price_sync",
        fire_ms=now - 20 * DAY,
        trigger="schedule",
        status="ok",
        owner="x",
        now_ms=now - 20 * DAY,
        wall_ms=0,
    )
    run = s.run_now("cleanup")
    s.close()
    assert run.status == "ok", run.error
    out = run.outputs
    assert out["factor_values"]["deleted"] == 6
    assert {f.ts for sym in ("A", "B") for f in env.store.query_factors(sym)} == {
        recent,
        recent + 1,
        recent + 2,
    }
    assert out["dead_letters"]["deleted"] == 2
    assert sum(env.store.dead_letter_counts().values()) == 1
    assert sorted(out["ticks"]["folders"]) == ["books/date=2024-10-20", "trades/date=2024-10-01"]
    assert (ticks / "trades" / "date=2024-10-30").is_dir()
    assert out["job_runs"]["deleted"] == 1
    assert out["model_versions"] == {"keep": "5 versions", "deleted": 2, "kept_newest": 5}
    assert pruner.calls == [(5, now)]
    assert run.inputs["policies"]["factor_values"] == "7 days"


def test_cleanup_policies_can_keep_everything(make_env: Callable[..., JobEnvironment]) -> None:
    env = make_env(retention_factor_days=0, retention_model_versions=0)
    now = local_ms(2024, 11, 1, 20)
    env.store.upsert_factors([FactorValue("A", now - 100 * DAY, "obi", 0.1)])
    run = run_job(env, "cleanup", now)
    assert run.outputs["factor_values"] == {"skipped": "retention_factor_days = 0: kept forever"}
    assert len(env.store.query_factors("A")) == 1


def test_init_backfills_an_empty_store_then_records_universe_and_permissions(
    make_env: Callable[..., JobEnvironment],
) -> None:
    env = make_env(backfill_days=2)
    from quantdesk.jobs.init import Init
    from quantdesk.storage.jobs import JobRepository

    repo = JobRepository(env.engine)
    repo.create_tables()
    assert Init().needed_at_start(env, repo) == "the store has no bars"
    now = local_ms(2024, 10, 9, 8)
    run = run_job(env, "init", now)
    assert run.status == "ok", run.error
    assert run.outputs["backfill"]["days"] == 2
    assert run.outputs["backfill"]["last_day"] == "2024-10-08"
    assert env.store.last_bar_time("1m") is not None
    assert len(perms(env)) == 10 and run.outputs["listings"]["listed"]
    assert Init().needed_at_start(env, repo) is None
