"""The dispatcher: exactly once per fire time, restarts, the lease, misfires, manual runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from quantdesk.errors import ConfigError, NotFoundError, ScheduleError
from quantdesk.jobs import JobEnvironment
from quantdesk.jobs.admin import change_schedule, job_statuses
from quantdesk.jobs.clock import ManualClock
from quantdesk.jobs.scheduler import LEASE, Scheduler
from tests.unit.jobs.child import FIRE_MS, Boom, Orders, Slow, registry
from tests.unit.jobs.conftest import local_ms

ROOT = Path(__file__).resolve().parents[3]
MIN = 60_000


class Wall:
    """A settable wall clock (epoch ms) for leases."""

    def __init__(self, t: int = 1_700_000_000_000) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def scheduler(env: JobEnvironment, clock: ManualClock, *jobs: type, **kw: object) -> Scheduler:
    s = Scheduler(env, clock, registry(*jobs), keep_lease=False, **kw)  # type: ignore[arg-type]
    s.start()
    return s


def test_a_fire_time_runs_once_even_when_stepped_again(
    make_env: Callable[..., JobEnvironment],
) -> None:
    env = make_env()
    clock = ManualClock(FIRE_MS - MIN)
    s = scheduler(env, clock, Slow)
    assert s.step() == []
    assert s.repo.schedule("slow").next_fire_ms == FIRE_MS  # type: ignore[union-attr]
    clock.set(FIRE_MS + 5_000)
    (run,) = s.step()
    assert (run.job, run.fire_ms, run.status, run.attempt) == ("slow", FIRE_MS, "ok", 1)
    assert run.started_ms == FIRE_MS + 5_000  # 5 s dispatch delay, on the exchange clock
    assert s.step() == [] and s.step(FIRE_MS + 10_000) == []
    # the repository itself refuses a second start of the same fire time
    assert (
        s.repo.begin_run(
            "slow",
            fire_ms=FIRE_MS,
            trigger="schedule",
            attempt=1,
            owner="x",
            started_ms=0,
            wall_ms=0,
        )
        is None
    )
    assert s.repo.schedule("slow").next_fire_ms == FIRE_MS + 86_400_000  # type: ignore[union-attr]


def test_a_failing_job_is_recorded_and_the_next_one_still_runs(
    make_env: Callable[..., JobEnvironment],
) -> None:
    env = make_env()
    clock = ManualClock(FIRE_MS - MIN)
    s = scheduler(env, clock, Boom, Slow)
    s.step()
    clock.set(FIRE_MS)
    boom, slow = s.step()
    assert (boom.job, boom.status) == ("boom", "failed")
    assert boom.error == "ValueError: injected failure with a second line"  # one line
    assert (slow.job, slow.status) == ("slow", "ok")


def _child(db: Path, job: str, tmp: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    started, block = tmp / f"{job}.started", tmp / f"{job}.block"
    block.write_text("hold")
    env = {**os.environ, "QUANTDESK_TEST_STARTED": str(started), "QUANTDESK_TEST_BLOCK": str(block)}
    env.pop("QUANTDESK_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.jobs.child", str(db), job],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not started.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"child did not start its job: {proc.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.05)
    return proc, started, block


@pytest.mark.parametrize(("job", "retried"), [("slow", True), ("orders", False)])
def test_sigkill_during_a_job_leaves_it_interrupted_and_it_never_runs_twice(
    make_env: Callable[..., JobEnvironment], tmp_path: Path, job: str, retried: bool
) -> None:
    env = make_env()
    db = tmp_path / "q.db"
    proc, _, block = _child(db, job, tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    block.unlink()
    (run,) = [r for r in env_runs(env) if r.job == job]
    assert run.status == "started"  # what a killed process leaves behind

    # restart: the dead child's lease is taken over at once (same host, pid gone)
    s = scheduler(env, ManualClock(FIRE_MS + 2 * MIN), Slow, Orders)
    assert s.holding
    done = s.step()
    runs = [r for r in env_runs(env) if r.job == job]
    assert runs[0].status == "interrupted" and runs[0].attempt == 1
    assert "interrupted" in runs[0].error
    if retried:
        assert [(r.attempt, r.status, r.fire_ms) for r in done] == [(2, "ok", FIRE_MS)]
        assert done[0].inputs["retry_of"] == runs[0].id
    else:
        assert done == []
    # nothing else ran for that fire time, and a later restart retries nothing again
    assert len(runs) == (2 if retried else 1)
    s.close()
    s2 = scheduler(env, ManualClock(FIRE_MS + 3 * MIN), Slow, Orders)
    assert s2.step() == []
    oks = [r for r in env_runs(env) if r.status == "ok"]
    assert len(oks) == len({(r.job, r.fire_ms) for r in oks})


def env_runs(env: JobEnvironment) -> list:  # type: ignore[type-arg]
    from quantdesk.storage.jobs import JobRepository

    return JobRepository(env.engine).runs(limit=None, ascending=True)


def test_two_schedulers_on_one_store_only_the_lease_holder_runs(
    make_env: Callable[..., JobEnvironment],
) -> None:
    wall = Wall()
    env_a, env_b = make_env(), make_env()
    clock = ManualClock(FIRE_MS - MIN)
    a = Scheduler(env_a, clock, registry(Slow), keep_lease=False, wall=wall, lease_s=30)
    b = Scheduler(env_b, clock, registry(Slow), keep_lease=False, wall=wall, lease_s=30)
    assert a.start() and not b.start()
    assert b.step() == [] and a.step() == []
    clock.set(FIRE_MS)
    assert b.step() == []  # B is not the holder: runs nothing
    assert [r.job for r in a.step()] == ["slow"]
    # A stops renewing (hung or gone on another host): once the lease expires B takes over
    wall.t += 20_000
    clock.set(FIRE_MS + 86_400_000)
    assert b.step() == []  # still A's
    wall.t += 11_000
    (run,) = b.step()
    assert run.owner == b.owner and run.fire_ms == FIRE_MS + 86_400_000
    assert a.step() == []  # A lost it
    assert not a.holding
    assert len(env_runs(env_a)) == 2
    b.close()  # releasing hands over at A's next try (at most a third of the lease later)
    wall.t += 10_000
    assert a.step() == [] and a.holding
    assert a.repo.lease(LEASE)[0] == a.owner  # type: ignore[index]


def test_lease_is_renewed_by_a_thread_while_a_job_runs(
    make_env: Callable[..., JobEnvironment],
) -> None:
    env = make_env()
    a = Scheduler(env, ManualClock(FIRE_MS), registry(Slow), lease_s=0.3)
    assert a.start()
    first = a.repo.lease(LEASE)
    time.sleep(0.5)
    assert a.repo.lease(LEASE)[1] > first[1]  # type: ignore[index]
    b = Scheduler(make_env(), ManualClock(FIRE_MS), registry(Slow), keep_lease=False)
    assert not b.start()
    a.close()
    assert b.start()


def test_a_schedule_change_persists_across_restart(
    make_env: Callable[..., JobEnvironment],
) -> None:
    env = make_env()
    clock = ManualClock(FIRE_MS - MIN)
    s = scheduler(env, clock, Slow)
    s.step()
    row = change_schedule(s.repo, env, "slow", spec="cron: 30 10 * * *", registry=registry(Slow))
    assert (row.spec, row.origin, row.next_fire_ms) == ("cron:30 10 * * *", "admin", None)
    s.close()
    # restart with settings whose default for the job differs: the admin's change wins
    env2 = make_env(jobs_schedules={"slow": "cron:0 11 * * *"})
    s2 = scheduler(env2, clock, Slow)
    assert s2.repo.schedule("slow").spec == "cron:30 10 * * *"  # type: ignore[union-attr]
    clock.set(FIRE_MS)
    assert s2.step() == []  # 10:00 is no longer a fire time
    clock.set(FIRE_MS + 30 * MIN)
    assert [(r.job, r.fire_ms) for r in s2.step()] == [("slow", FIRE_MS + 30 * MIN)]
    # disabled: nothing runs, and that too survives a restart
    change_schedule(s2.repo, env2, "slow", enabled=False, registry=registry(Slow))
    s2.close()
    s3 = scheduler(env2, clock, Slow)
    clock.set(FIRE_MS + 86_400_000 + 30 * MIN)
    assert s3.step() == []


def test_settings_change_a_default_schedule_and_reject_bad_ones(
    make_env: Callable[..., JobEnvironment],
) -> None:
    env = make_env(jobs_schedules={"slow": "every:15m"})
    s = scheduler(env, ManualClock(FIRE_MS), Slow)
    assert s.repo.schedule("slow").spec == "every:15m"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"^QUANTDESK_JOBS_SCHEDULES: unknown job 'nope'"):
        scheduler(make_env(jobs_schedules={"nope": "once"}), ManualClock(FIRE_MS), Slow)
    with pytest.raises(ScheduleError, match="QUANTDESK_JOBS_SCHEDULES: slow: schedule"):
        scheduler(make_env(jobs_schedules={"slow": "cron:0 25 * * *"}), ManualClock(0), Slow)


def test_bad_changes_are_one_line_errors_and_change_nothing(
    make_env: Callable[..., JobEnvironment],
) -> None:
    env = make_env()
    s = scheduler(env, ManualClock(FIRE_MS), Slow)
    before = s.repo.schedule("slow")
    for spec, message in [
        ("cron:61 9 * * *", "higher than the maximum value (59)"),
        ("cron:0 9 * *", "5 fields"),
        ("every:3x", "every:<N><m|h|d|w>"),
        ("hourly", "not one of the allowed forms"),
        ("once", "only for a job run at start"),
        ("cron:0 9 1 * 1", "not both"),
    ]:
        with pytest.raises(ScheduleError, match=re.escape(message)) as err:
            change_schedule(s.repo, env, "slow", spec=spec, registry=registry(Slow))
        assert "\n" not in str(err.value)
    with pytest.raises(NotFoundError, match=r"^unknown job 'nope'; known: orders, slow$"):
        change_schedule(s.repo, env, "nope", spec="every:1h", registry=registry(Slow, Orders))
    with pytest.raises(NotFoundError):
        s.run_now("nope")
    assert s.repo.schedule("slow") == before


def test_misfires_coalesce_within_the_grace_period_and_are_skipped_beyond(
    make_env: Callable[..., JobEnvironment],
) -> None:
    env = make_env(jobs_schedules={"slow": "every:1m"})
    clock = ManualClock(FIRE_MS)
    s = scheduler(env, clock, Slow)
    s.step()
    s.close()  # the scheduler stops (the platform is down) ...
    clock.set(FIRE_MS + 10 * MIN + 30_000)  # ... for 10.5 minutes, grace 15 min
    s2 = scheduler(env, clock, Slow)
    (run,) = s2.step()
    assert (run.status, run.fire_ms, run.inputs["coalesced"]) == ("ok", FIRE_MS + 10 * MIN, 9)
    s2.close()
    clock.set(FIRE_MS + 80 * MIN)  # down for 70 minutes: the latest fire time is on time
    s3 = scheduler(env, clock, Slow)
    (run,) = s3.step()
    assert (run.status, run.fire_ms, run.inputs["coalesced"]) == ("ok", FIRE_MS + 80 * MIN, 69)
    clock.set(FIRE_MS + 81 * MIN)
    assert [r.status for r in s3.step()] == ["ok"]  # back on schedule


def test_missed_beyond_grace_records_skipped(make_env: Callable[..., JobEnvironment]) -> None:
    env = make_env()
    clock = ManualClock(FIRE_MS - MIN)
    s = scheduler(env, clock, Slow, grace_s=60)
    s.step()
    s.close()
    clock.set(FIRE_MS + 5 * MIN)  # the 10:00 run was due 5 min before the restart
    s2 = scheduler(env, clock, Slow, grace_s=60)
    (missed,) = s2.step()
    assert (missed.status, missed.fire_ms) == ("skipped", FIRE_MS)
    assert missed.error == "missed: due 300 s before this scheduler started (grace 60 s)"
    assert s2.repo.schedule("slow").next_fire_ms == FIRE_MS + 86_400_000  # type: ignore[union-attr]


def test_a_manual_run_is_queued_for_the_lease_holder(
    make_env: Callable[..., JobEnvironment],
) -> None:
    env = make_env()
    clock = ManualClock(local_ms(2024, 10, 8, 11, 0))
    holder = scheduler(env, clock, Slow)
    other = Scheduler(make_env(), clock, registry(Slow), keep_lease=False, recover=False)
    other.prepare()
    queued = other.run_now("Slow", by="cli")
    assert (queued.status, queued.trigger) == ("queued", "manual")
    (run,) = holder.step()
    assert (run.id, run.status, run.owner) == (queued.id, "ok", holder.owner)
    assert run.inputs["requested_by"] == "cli"
    # the holder runs a manual request itself at once
    own = holder.run_now("slow")
    assert (own.status, own.trigger) == ("ok", "manual")


def test_job_statuses_show_next_and_last_runs(make_env: Callable[..., JobEnvironment]) -> None:
    env = make_env()
    clock = ManualClock(FIRE_MS - MIN)
    s = scheduler(env, clock, Slow, Orders)
    s.step()
    clock.set(FIRE_MS)
    s.step()
    st = {x.name: x for x in job_statuses(s.repo, env, FIRE_MS, registry(Slow, Orders))}
    assert st["slow"].next_fire_ms == FIRE_MS + 86_400_000 and not st["slow"].next_estimated
    assert st["slow"].last is not None and st["slow"].last.status == "ok"


def test_a_scheduler_thread_follows_a_fast_virtual_clock(
    make_env: Callable[..., JobEnvironment],
) -> None:
    from quantdesk.jobs.clock import SharedClock, running_ms
    from quantdesk.jobs.scheduler import SchedulerThread
    from quantdesk.runtime.clock import VirtualClock
    from tests.unit.jobs.conftest import CN

    env = make_env(jobs_schedules={"slow": "every:1m"})
    clock = SharedClock(VirtualClock(CN, local_ms(2024, 10, 8, 10, 0), speed=600))
    sched = Scheduler(env, clock, registry(Slow))
    events: list[str] = []
    sched.listeners.append(lambda run: events.append(run.status))
    sched.prepare()  # the tables exist before the test reads them
    thread = SchedulerThread(sched, poll_s=0.5)
    thread.start()
    deadline = time.monotonic() + 20
    while len(sched.repo.runs("slow", statuses=["ok"], limit=None)) < 5:
        assert time.monotonic() < deadline, "the thread ran too few jobs"
        time.sleep(0.05)
    thread.stop()
    runs = sched.repo.runs("slow", limit=None, ascending=True)
    fires = [r.fire_ms for r in runs]
    assert len(fires) == len(set(fires)) and all(f % MIN == 0 for f in fires)
    # it slept until each fire time: most start within seconds of exchange time at 600x
    # (stepping every 0.25 s of wall time would make that 75 s on average)
    delays = sorted(running_ms(clock, r.fire_ms, r.started_ms or 0) for r in runs)
    assert delays[len(delays) // 2] < 30_000
    assert events[:2] == ["started", "ok"]
    assert not sched.holding  # stopping gave the lease back


def test_a_scheduler_thread_ends_when_its_store_is_closed(
    make_env: Callable[..., JobEnvironment],
) -> None:
    """A process that closed its store without stopping the thread first (a crash path)
    leaves no thread polling a closed store."""
    from quantdesk.jobs.clock import SharedClock
    from quantdesk.jobs.scheduler import SchedulerThread
    from quantdesk.runtime.clock import VirtualClock
    from tests.unit.jobs.conftest import CN

    env = make_env(jobs_schedules={"slow": "every:1m"})
    clock = SharedClock(VirtualClock(CN, local_ms(2024, 10, 8, 10, 0), speed=600))
    sched = Scheduler(env, clock, registry(Slow))
    sched.prepare()
    thread = SchedulerThread(sched, poll_s=0.1)
    thread.start()
    deadline = time.monotonic() + 20
    while not sched.repo.runs("slow", limit=None):
        assert time.monotonic() < deadline, "the thread ran no job"
        time.sleep(0.05)
    env.store.close()
    thread.join(10)
    assert not thread.is_alive()
    keeper = sched._keeper
    assert keeper is not None
    keeper.join(10)
    assert not keeper.is_alive() and not sched.holding  # nor its lease keeper
