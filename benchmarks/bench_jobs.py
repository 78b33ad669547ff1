"""Jobs: dispatch delay on the exchange clock, and the CPU cost of a week of scheduled runs.

**Dispatch delay** is the exchange-clock time from a job's fire time to its start
(the ``started`` record), as :func:`quantdesk.jobs.clock.running_ms` counts it,
for a job firing every minute of session on the simulator's virtual clock at
``--speed 1`` and ``--speed 600``, SQLite store. Ours is
:class:`~quantdesk.jobs.scheduler.SchedulerThread` (it sleeps until the next
fire time at the clock's speed); the baseline steps the same scheduler every
0.25 s of wall time, the runtime's loop period (what calling ``step`` from the
runner's loop would give).

**A week of scheduled runs**: a virtual trading week (2024-09-27 .. 10-14,
with the National Day holiday) at speed 600, stepped every 0.25 s of (fake) wall
time, every job of the trading day on a store of the 10 preset A-shares
(the data jobs for real; the trading and model halves as trivial stand-ins):
the process CPU seconds, beside the CPU of the same job bodies called directly
with no scheduler, records or lease (the baseline). The difference is the
scheduler's cost.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from benchmarks._report import Figure, percentile
from quantdesk.backfill.run import run_backfill
from quantdesk.calendars import get_calendar
from quantdesk.config import load_settings
from quantdesk.jobs import JOBS, JobContext, JobEnvironment
from quantdesk.jobs.base import Job
from quantdesk.jobs.clock import SharedClock, running_ms
from quantdesk.jobs.scheduler import Scheduler, SchedulerThread
from quantdesk.jobs.services import TradingDay
from quantdesk.plugins import Registry
from quantdesk.runtime.clock import VirtualClock
from quantdesk.storage import open_store

CN = get_calendar("cn")
TICK_S = 0.25  # the runtime's loop period


def _ms(y: int, mo: int, d: int, h: int, mi: int, s: int = 0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, s, tzinfo=CN.tz).timestamp() * 1000)


class Tick(Job):
    name: ClassVar[str] = "tick"
    title: ClassVar[str] = "every minute"
    schedule: ClassVar[str] = "every:1m"

    def run(self, ctx: JobContext) -> None:
        ctx.outputs["n"] = 1


def _env(folder: Path, **overrides: Any) -> JobEnvironment:
    settings = load_settings(data_dir=folder, backfill_days=0, **overrides)
    return JobEnvironment.open(settings, open_store(f"sqlite:///{folder / 'q.db'}"))


def _dispatch(speed: float, start_ms: int, wall_s: float, polling: bool) -> list[float]:
    """Delays (exchange seconds) of the tick job's runs over ``wall_s`` seconds."""
    with tempfile.TemporaryDirectory() as d:
        env = _env(Path(d))
        reg: Registry[type[Job]] = Registry("job")
        reg.register("tick", Tick)
        clock = SharedClock(VirtualClock(CN, start_ms, speed))
        sched = Scheduler(env, clock, reg)
        if polling:
            sched.start()
            deadline = time.monotonic() + wall_s
            while time.monotonic() < deadline:
                sched.step()
                time.sleep(TICK_S)
            sched.close()
        else:
            thread = SchedulerThread(sched, poll_s=1.0)
            thread.start()
            time.sleep(wall_s)
            thread.stop()
        runs = sched.repo.runs("tick", statuses=["ok"], limit=None)
        env.store.close()
    return [running_ms(clock, r.fire_ms, r.started_ms or r.fire_ms) / 1000 for r in runs]


def _delays(speed: float, quick: bool) -> list[Figure]:
    out = []
    for polling in (False, True):
        if speed == 1:
            # a fresh clock 1.5 s before a minute's fire time, a few times
            samples: list[float] = []
            for k in range(2 if quick else 5):
                samples += _dispatch(1, _ms(2024, 10, 8, 14, k, 58) + 500, 2.5, polling)
        else:
            samples = _dispatch(speed, _ms(2024, 10, 8, 13, 0), 4 if quick else 8, polling)
        out.append(samples)
    ours, base = out
    unit = "exchange s"
    target = 1.0 if speed == 1 else 60.0
    return [
        Figure(
            f"dispatch delay p50 at speed {speed:g} ({len(ours)} runs)",
            percentile(ours, 50),
            unit,
            percentile(base, 50),
            "step every 0.25 s",
            higher_is_better=False,
        ),
        Figure(
            f"dispatch delay p99 at speed {speed:g}",
            percentile(ours, 99),
            unit,
            percentile(base, 99),
            "step every 0.25 s",
            higher_is_better=False,
            target=target,
        ),
    ]


class _Fake:
    """The trading and model halves as trivial stand-ins (their own cost is not ours)."""

    def sell_half(self, day: TradingDay) -> Mapping[str, Any]:
        return {"orders": 0}

    def buy_half(self, day: TradingDay, prediction: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"orders": 0}

    def settle_day(self, day: TradingDay) -> Mapping[str, Any]:
        return {"fills": 0}

    def predict_day(self, day: TradingDay) -> Mapping[str, Any]:
        return {"id": f"bench@{day.day}"}

    def train_incremental(self, start_ms: int, end_ms: int) -> Mapping[str, Any]:
        return {"version": "v", "parent": None}

    def prune_unaliased(self, keep_newest: int, older_than_ms: int) -> int:
        return 0


def _week() -> list[Figure]:
    start, stop = _ms(2024, 9, 27, 14, 0), _ms(2024, 10, 14, 9, 40)
    fake = _Fake()
    services = dict.fromkeys(("strategy", "broker", "predictor", "trainer", "model_versions"), fake)
    with tempfile.TemporaryDirectory() as d:
        env = _env(Path(d))
        env.services.update(services)
        run_backfill(env.store, env.settings, days=8, now=dt.datetime(2024, 10, 12, tzinfo=CN.tz))
        wall = [0.0]
        clock = VirtualClock(CN, start, speed=600, monotonic=lambda: wall[0])
        sched = Scheduler(env, clock, keep_lease=False)
        sched.start()
        steps = 0
        cpu0 = time.process_time()
        while clock.now() < stop:
            sched.step()
            wall[0] += TICK_S
            steps += 1
        cpu = time.process_time() - cpu0
        runs = sched.repo.runs(limit=None, ascending=True)
        # the baseline: the same job bodies, called directly, no records and no lease
        cpu0 = time.process_time()
        for r in runs:
            job = JOBS.get(r.job)()
            ctx = JobContext(r.job, 0, r.fire_ms, r.started_ms or r.fire_ms, "bench", 1, env,
                             sched.repo)  # fmt: skip
            with contextlib.suppress(Exception):  # skipped / failed bodies cost what they cost
                job.run(ctx)
        direct = time.process_time() - cpu0
        # the cost of a step with nothing due
        cpu0 = time.process_time()
        idle = 200
        for _ in range(idle):
            sched.step(clock.now())
        idle_us = (time.process_time() - cpu0) / idle * 1e6
        env.store.close()
    session_s = running_ms(clock, start, stop) / 1000
    return [
        Figure(
            f"CPU for a virtual week: {len(runs)} runs, {steps} steps (speed 600)",
            cpu,
            "CPU s",
            direct,
            "job bodies alone",
            higher_is_better=False,
        ),
        Figure(
            "share of one core during that week at speed 600",
            100 * cpu / (session_s / 600),
            "%",
            higher_is_better=False,
        ),
        Figure("CPU of a step with nothing due", idle_us, "us", higher_is_better=False),
    ]


def run(quick: bool) -> list[Figure]:
    return _delays(1, quick) + _delays(600, quick) + _week()
