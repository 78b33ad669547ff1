"""Test jobs and the child process of the SIGKILL test (``python -m tests.unit.jobs.child``).

The child takes the lease on the store, steps its scheduler once at a fixed
exchange time, and its ``slow`` / ``orders`` jobs block until the parent kills it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import ClassVar

from quantdesk.jobs.base import Job, JobContext
from quantdesk.plugins import Registry

#: the jobs' fire time in the tests: 2024-10-08 10:00 Asia/Shanghai
FIRE_MS = 1_728_352_800_000


class Slow(Job):
    """Idempotent work; blocks while ``QUANTDESK_TEST_BLOCK`` names an existing file."""

    name: ClassVar[str] = "slow"
    title: ClassVar[str] = "test job"
    schedule: ClassVar[str] = "cron:0 10 * * *"
    order: ClassVar[int] = 1

    def run(self, ctx: JobContext) -> None:
        marker = os.environ.get("QUANTDESK_TEST_STARTED")
        if marker:
            Path(marker).write_text(str(ctx.run_id))
        block = os.environ.get("QUANTDESK_TEST_BLOCK")
        while block and Path(block).exists():
            time.sleep(0.05)
        ctx.outputs["done"] = ctx.attempt


class Orders(Slow):
    """Like a job that places orders: never retried automatically."""

    name: ClassVar[str] = "orders"
    order: ClassVar[int] = 2
    retry_interrupted: ClassVar[bool] = False


class Boom(Job):
    name: ClassVar[str] = "boom"
    title: ClassVar[str] = "always fails"
    schedule: ClassVar[str] = "cron:0 10 * * *"
    order: ClassVar[int] = 0

    def run(self, ctx: JobContext) -> None:
        raise ValueError("injected failure\nwith a second line")


def registry(*jobs: type[Job]) -> Registry[type[Job]]:
    reg: Registry[type[Job]] = Registry("job")
    for job in jobs or (Slow, Orders):
        reg.register(job.name, job)
    return reg


def main(db: str, job: str) -> None:  # pragma: no cover - runs in the child process
    from quantdesk.config import load_settings
    from quantdesk.jobs import JobEnvironment
    from quantdesk.jobs.clock import ManualClock
    from quantdesk.jobs.scheduler import Scheduler
    from quantdesk.storage import open_store

    settings = load_settings(backfill_days=0)
    env = JobEnvironment.open(settings, open_store(f"sqlite:///{db}"))
    reg = registry(Slow if job == "slow" else Orders)
    scheduler = Scheduler(env, ManualClock(FIRE_MS - 60_000), reg)
    assert scheduler.start(), "the child could not take the lease"
    scheduler.step(FIRE_MS - 60_000)  # stores the next fire time: FIRE_MS
    scheduler.step(FIRE_MS + 1_000)  # runs the job, which blocks until the kill
    print("the job returned: the parent should have killed this process", file=sys.stderr)
    sys.exit(3)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1], sys.argv[2])
