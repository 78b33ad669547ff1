"""The job scheduler inside ``quantdesk run``: seed B's trading day on the runner's clock.

:func:`attach` starts the scheduler of :mod:`quantdesk.jobs` on the runner's
store (``QUANTDESK_JOBS``, on by default) and hands it the live objects:

* the paper account's :meth:`~quantdesk.trading.desk.TradingDesk.services`
  (``strategy``: t1's halves, from then on triggered by the ``sell`` and
  ``buy`` jobs instead of the strategy's own steps; ``broker``: the settlement
  of ``order_sync``), when ``run`` trades;
* not the model: ``predict``, ``train`` and ``cleanup`` find ``QUANTDESK_MODEL``
  in the model registry when they run and take its ``for_jobs`` object (the
  :class:`~quantdesk.models.jobs.ModelJobs` over this store), so ``run`` starts
  without importing PyTorch, and a model whose package is missing is a
  ``skipped`` run naming what to install.

Each run's start and end go out on the bus (:mod:`quantdesk.jobs.events`,
topic ``jobs``), whence ``/ws/pipeline-status``.

**Which clock.** With ``--speed N`` (N > 0) the scheduler runs on a thread of
its own and reads the runner's clock through a
:class:`~quantdesk.jobs.clock.SharedClock` (the runner reads the same object:
the virtual clock is not safe to read from two threads), so ``--speed 60``
shows a whole trading day of jobs in about five minutes. With ``--speed 0``
(as fast as possible) there is no clock to follow: event time *is* the clock,
so the runner steps the scheduler itself after each step, never steps past
the next fire time, and a job sees the store exactly as it stood at its fire
time (a replay of a week is then reproducible).

Admins change schedules and trigger jobs through the store (the API or
``quantdesk jobs``); the scheduler reads it at every step (at least every
``QUANTDESK_JOBS_POLL_SECONDS``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from quantdesk.jobs import JobEnvironment
from quantdesk.jobs.clock import SharedClock
from quantdesk.jobs.events import publisher
from quantdesk.jobs.scheduler import Scheduler, SchedulerThread

if TYPE_CHECKING:
    from quantdesk.runtime.runner import Runner

__all__ = ["EventClock", "JobsLink", "attach"]

log = logging.getLogger("quantdesk.runtime.jobs")


class EventClock:
    """The runner's event time as the scheduler's clock (``--speed 0``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def now(self) -> int:
        t = self._runner.sim_time
        return int(t) if t is not None else int(self._runner.clock.start)

    def __getattr__(self, name: str) -> Any:  # kind, calendar, test_mode, start
        if name == "speed":
            return 1.0
        return getattr(self._runner.clock, name)


class JobsLink:
    """The scheduler of a runner and how the runner drives or stops it."""

    def __init__(self, scheduler: Scheduler, thread: SchedulerThread | None) -> None:
        self.scheduler = scheduler
        self.thread = thread

    @property
    def synchronous(self) -> bool:
        """True when the runner steps the scheduler (``--speed 0``)."""
        return self.thread is None

    def limit(self, start: int, until: int) -> int:
        """``until``, or the next fire time after ``start`` if that comes first
        (synchronous mode: the runner stops there so the job runs on time)."""
        if self.thread is not None:
            return until
        nxt = self.scheduler.next_due_ms()
        if nxt is not None and start < nxt < until:
            return nxt
        return until

    def step(self) -> None:
        """Run what is due at the runner's event time (synchronous mode)."""
        if self.thread is None:
            self.scheduler.step()

    def close(self) -> None:
        if self.thread is not None:
            self.thread.stop()
        else:
            self.scheduler.close()


def attach(runner: Runner) -> JobsLink | None:
    """Start the scheduler of ``runner`` (None when ``QUANTDESK_JOBS`` is off)."""
    settings = runner.settings
    if not settings.jobs:
        runner.echo("Jobs: off (QUANTDESK_JOBS=false)")
        return None
    if runner.source_name == "replay":  # a copy of a past session, not a trading day
        runner.echo("Jobs: off for a replay")
        return None
    env = JobEnvironment.open(settings, runner.store, market=runner.market)
    services: dict[str, Any] = {}
    desk = runner.trading
    if desk is not None:
        services.update(desk.services())
    env.services.update(services)
    env.services["bus"] = runner.bus  # predictions published live (topic predictions)
    synchronous = runner.fast
    clock: Any
    if synchronous:
        clock = EventClock(runner)
    else:
        clock = runner.clock = SharedClock(runner.clock)
    scheduler = Scheduler(env, clock)
    scheduler.listeners.append(publisher(runner.bus))
    if synchronous:
        scheduler.start()
        thread = None
    else:
        thread = SchedulerThread(scheduler)
        thread.start()
    given = ", ".join(sorted(services)) or "none"
    runner.echo(
        f"Jobs: scheduler on the {'event time' if synchronous else 'exchange clock'}"
        f" (model {settings.model}; live services: {given})"
    )
    return JobsLink(scheduler, thread)
