"""The jobs' tables on both backends: runs once per fire time, the lease, permissions, and
the retention deletes on the stream tables (INTEGER ms on SQLite, TIMESTAMPTZ on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quantdesk.bus import DeadLetter
from quantdesk.config import load_settings
from quantdesk.domain import FactorValue
from quantdesk.jobs import JobEnvironment
from quantdesk.jobs.clock import ManualClock, wall_ms
from quantdesk.jobs.scheduler import Scheduler
from quantdesk.storage import Store
from quantdesk.storage.jobs import JobRepository
from quantdesk.storage.permissions import Permission, PermissionRepository

T = 1_728_352_800_000
DAY = 86_400_000


@pytest.fixture
def env(store: Store, tmp_path: Path) -> Iterator[JobEnvironment]:
    settings = load_settings(data_dir=tmp_path / "data", backfill_days=0)
    environment = JobEnvironment.open(settings, store)
    JobRepository(environment.engine).create_tables()
    PermissionRepository(environment.engine).create_tables()
    yield environment
    environment.engine.dispose()


def test_runs_are_stored_once_per_fire_time(env: JobEnvironment) -> None:
    repo = JobRepository(env.engine)
    repo.ensure_schedules([("a", "cron:0 10 * * *", True)], T)
    args = {"trigger": "schedule", "started_ms": T, "wall_ms": 1}
    first = repo.begin_run("a", fire_ms=T, attempt=1, owner="s1", advance=(None, T + DAY), **args)
    assert first is not None
    assert repo.begin_run("a", fire_ms=T, attempt=1, owner="s2", **args) is None
    assert repo.schedule("a").next_fire_ms == T + DAY  # type: ignore[union-attr]
    assert repo.finish_run(
        first, status="ok", finished_ms=T + 5, wall_ms=2, inputs={"x": 1}, outputs={"n": 2}
    )
    assert not repo.finish_run(
        first, status="failed", finished_ms=T, wall_ms=3, inputs={}, outputs={}
    )
    row = repo.run(first)
    assert row is not None and (row.status, row.inputs, row.outputs) == ("ok", {"x": 1}, {"n": 2})
    # a run left started by a dead scheduler is interrupted by the next owner
    second = repo.begin_run("a", fire_ms=T + DAY, attempt=1, owner="s1", **args)
    (orphan,) = repo.interrupt_orphans("s3", T + DAY, 5)
    assert orphan.id == second and repo.run(second).status == "interrupted"  # type: ignore[union-attr]
    # manual runs at one instant get distinct keys
    q1, q2 = repo.queue_manual("a", T, "cli"), repo.queue_manual("a", T, "cli")
    assert repo.run(q1).fire_ms != repo.run(q2).fire_ms  # type: ignore[union-attr]
    assert repo.claim_queued(q1, "s3", T + 7, 9) and not repo.claim_queued(q1, "s4", T + 7, 9)
    assert repo.purge_runs(T + DAY) == 1  # the finished run of T; queued/started ones stay


def test_the_lease_has_one_holder(env: JobEnvironment) -> None:
    repo = JobRepository(env.engine)
    assert repo.acquire_lease("s", "a", 1_000, 30_000)
    assert not repo.acquire_lease("s", "b", 2_000, 30_000)
    assert repo.acquire_lease("s", "a", 20_000, 30_000)  # renewed
    assert not repo.acquire_lease("s", "b", 40_000, 30_000)
    assert repo.acquire_lease("s", "b", 50_001, 30_000)  # expired
    assert repo.lease("s") == ("b", 80_001)
    assert repo.acquire_lease("s", "c", 50_002, 30_000, steal_from="b")  # a dead holder
    repo.release_lease("s", "c")
    assert repo.acquire_lease("s", "a", 50_003, 30_000)


def test_permissions_are_upserted(env: JobEnvironment) -> None:
    repo = PermissionRepository(env.engine)
    p = Permission("600036.SH", "cn", "main", False, False, True, "normal", T)
    repo.save([p, Permission("688001.SH", "cn", "star", True, False, True, "st", T)])
    repo.save([p])
    assert repo.set_suspended({"600036.SH": (True, "no trade")}, T + 1) == 1
    assert repo.set_suspended({"600036.SH": (True, "no trade")}, T + 2) == 0
    got = repo.get("600036.SH")
    assert got is not None and got.suspended and not got.tradable
    assert [x.board for x in repo.all("cn")] == ["main", "star"]


def test_cleanup_deletes_old_factors_and_dead_letters(env: JobEnvironment) -> None:
    now = T + 30 * DAY
    env.store.upsert_factors(
        [FactorValue("A", t, "obi", 0.1) for t in (now - 20 * DAY, now - 8 * DAY, now - DAY)]
    )
    env.store.add_dead_letters([DeadLetter("bad", "trades", b"x", "e")])
    s = Scheduler(env, ManualClock(now), keep_lease=False)
    s.start()
    run = s.run_now("cleanup")
    s.close()
    assert run.status == "ok", run.error
    assert run.outputs["factor_values"]["deleted"] == 2
    assert [f.ts for f in env.store.query_factors("A")] == [now - DAY]
    assert run.outputs["dead_letters"]["deleted"] == 0  # stored just now (wall clock)
    assert wall_ms() - run.outputs["dead_letters"]["before"] >= 30 * DAY - 60_000
