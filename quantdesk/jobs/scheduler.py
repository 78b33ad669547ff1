"""The dispatcher: stored schedules fired on the exchange clock, each run a stored record.

One call wires it into a runner::

    thread = start_scheduler(settings, store, SharedClock(clock))   # ... thread.stop()

or, step by step::

    scheduler = Scheduler(JobEnvironment.open(settings, store), clock)
    scheduler.start()              # tables, schedules, lease
    scheduler.step()               # run what is due now (call it from a loop) ...
    SchedulerThread(scheduler).start()   # ... or let a thread do it

How a step works (APScheduler 3.x's triggers answer "when next"; this module
decides what that means on our clock and in our store):

* **One scheduler per store.** A lease row (``job_lease``) names the owner and
  expires ``QUANTDESK_JOBS_LEASE_SECONDS`` after its last renewal (a thread
  renews it). A scheduler that does not hold it runs nothing; it takes over when
  the lease expires, or at once when the holder is a dead process on this host.
* **Exactly once per fire time.** A run is stored as ``started`` *before* the job
  runs, in the same transaction that moves the schedule's ``next_fire_ms`` on,
  and ``UNIQUE (job, trigger, fire_ms, attempt)`` refuses a second start.
* **Restart.** The new lease holder marks runs left ``started`` by a dead
  scheduler ``interrupted``, then retries each (attempt + 1, same fire time) when
  the job allows it (``retry_interrupted``, ``max_attempts``) and no newer fire
  time of that job has come since.
* **Misfires.** Fire times that passed while this scheduler was watching the
  clock run, however late (a long job, a clock jump over a closed period). Fire
  times that passed before it took the lease coalesce into one run of the latest
  of them if that is at most the grace period late
  (``QUANTDESK_JOBS_MISFIRE_GRACE_SECONDS``, on the exchange clock as
  :func:`~quantdesk.jobs.clock.running_ms` counts it); otherwise the latest is
  recorded ``skipped`` with the reason. Either way earlier ones are not run.
* **Order and isolation.** Due runs start in fire-time order (ties: the job's
  ``order``), one at a time; an exception fails that run only.
* **Changes at run time.** Schedules are read from the store at every step, so an
  admin's change (``quantdesk jobs set``, later the API) applies at the next step
  and survives restarts. A manual run (``quantdesk jobs run``) is queued in the
  store and run by the lease holder at its next step (or at once by a CLI that
  could take the lease itself).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quantdesk.errors import ConfigError, JobSkipped, ScheduleError
from quantdesk.jobs.base import Job, JobContext, JobEnvironment
from quantdesk.jobs.clock import running_ms, wall_ms, wall_seconds_until
from quantdesk.jobs.schedule import Schedule, parse_schedule
from quantdesk.plugins import Registry
from quantdesk.storage.engines import is_closed
from quantdesk.storage.jobs import JobRepository, RunRow, ScheduleRow

__all__ = ["LEASE", "Scheduler", "SchedulerThread", "start_scheduler"]

if TYPE_CHECKING:
    from quantdesk.config import Settings
    from quantdesk.storage.base import Store

log = logging.getLogger("quantdesk.jobs")

LEASE = "scheduler"


@dataclass
class _Due:
    job: str
    fire_ms: int
    order: int
    trigger: str = "schedule"
    attempt: int = 1
    inputs: dict[str, Any] = field(default_factory=dict)
    advance: tuple[int | None, int | None] | None = None
    missed: str = ""  # non-empty: record as skipped with this reason, do not run
    run_id: int | None = None  # a claimed manual run


def check_once(job: type[Job], sched: Schedule) -> None:
    """``once`` is only for a job that says when it is needed (``needed_at_start``)."""
    if sched.kind == "once" and job.needed_at_start is Job.needed_at_start:
        raise ScheduleError(f"schedule 'once' is only for a job run at start (not {job.name})")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, JobSkipped) else f"{type(exc).__name__}: {text}"


def _dead_local(owner: str) -> bool:
    """Whether ``owner`` (``host:pid:tag``) is a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_s = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_s.isdigit() or int(pid_s) == os.getpid():
        return False
    try:
        os.kill(int(pid_s), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Scheduler:
    """Runs the registered jobs of one store on one exchange clock (module docstring)."""

    def __init__(
        self,
        env: JobEnvironment,
        clock: Any,
        registry: Registry[type[Job]] | None = None,
        *,
        repo: JobRepository | None = None,
        owner: str | None = None,
        grace_s: float | None = None,
        lease_s: float | None = None,
        wall: Callable[[], int] = wall_ms,
        keep_lease: bool = True,
        recover: bool = True,
    ) -> None:
        from quantdesk.jobs import JOBS

        self.env = env
        self.clock = clock
        self.registry = registry if registry is not None else JOBS
        self.repo = repo or JobRepository(env.engine)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        settings = env.settings
        self.grace_ms = int(
            1000 * (grace_s if grace_s is not None else settings.jobs_misfire_grace_seconds)
        )
        self.lease_ms = int(
            1000 * (lease_s if lease_s is not None else settings.jobs_lease_seconds)
        )
        self._wall = wall
        self._keep_lease = keep_lease
        self._recover_runs = recover
        self.jobs: dict[str, Job] = {}
        self.holding = False
        self._watch_from: int | None = None
        self._last_lease_try: int | None = None
        self._lease_lock = threading.Lock()
        self._run_lock = threading.RLock()  # one job at a time, whichever thread asks
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None
        self._parsed: dict[tuple[str, bool], Schedule] = {}
        self._snapshot: list[ScheduleRow] = []
        self._started = False
        #: called with each run as it starts and as it ends (job events for a live view)
        self.listeners: list[Callable[[RunRow], None]] = []

    # -- set-up -----------------------------------------------------------------

    def defaults(self) -> list[tuple[str, str, bool]]:
        """``(name, spec, trading_days)`` of every registered job: the job's default,
        or ``QUANTDESK_JOBS_SCHEDULES``'s entry for it."""
        overrides: dict[str, str] = dict(self.env.settings.jobs_schedules)
        unknown = sorted(set(overrides) - set(self.jobs))
        if unknown:
            raise ConfigError(
                f"QUANTDESK_JOBS_SCHEDULES: unknown job {unknown[0]!r};"
                f" known: {', '.join(sorted(self.jobs))}"
            )
        out = []
        for name, job in self.jobs.items():
            spec = overrides.get(name, job.default_schedule(self.env.market))
            try:
                sched = self._parse(spec, job.trading_days)
            except ScheduleError as exc:
                raise ScheduleError(f"QUANTDESK_JOBS_SCHEDULES: {name}: {exc}") from None
            check_once(type(job), sched)
            out.append((name, sched.spec, job.trading_days))
        return out

    def prepare(self) -> None:
        """Create the tables and store the default schedules (no lease taken)."""
        if not self._started:
            self.jobs = {name: self.registry.get(name)() for name in self.registry.names()}
            self.repo.create_tables()
            from quantdesk.storage.permissions import PermissionRepository

            PermissionRepository(self.env.engine).create_tables()
            self.repo.ensure_schedules(self.defaults(), self._wall())
            self._started = True

    def start(self) -> bool:
        """:meth:`prepare`, then try the lease (renewed by a thread from now on); True if
        this scheduler holds it."""
        self.prepare()
        if self._keep_lease and self._keeper is None and not self._stop.is_set():
            self._keeper = threading.Thread(
                target=self._keep, name="quantdesk-jobs-lease", daemon=True
            )
            self._keeper.start()
        self._try_lease(force=True)
        return self.holding

    def close(self) -> None:
        """Stop renewing the lease and give it up (another scheduler may take over)."""
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
            self._keeper = None
        with self._lease_lock:
            if self.holding:
                self.repo.release_lease(LEASE, self.owner)
            self.holding = False

    def abandon(self) -> None:
        """The store was closed under the scheduler: stop the lease keeper, release nothing
        (the lease expires by itself)."""
        self._stop.set()
        self.holding = False

    def __enter__(self) -> Scheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the lease --------------------------------------------------------------------

    def _try_lease(self, force: bool = False) -> bool:
        with self._lease_lock:
            if self._stop.is_set():
                return self.holding
            now = self._wall()
            if (
                not force
                and self._last_lease_try is not None
                and now - self._last_lease_try < self.lease_ms // 3
            ):
                return self.holding
            self._last_lease_try = now
            current = self.repo.lease(LEASE)
            steal = None
            if current is not None and current[0] != self.owner and _dead_local(current[0]):
                steal = current[0]
            held = self.repo.acquire_lease(LEASE, self.owner, now, self.lease_ms, steal_from=steal)
            if held and not self.holding:
                log.info("jobs: scheduler %s holds the lease", self.owner)
                self._watch_from = None  # recover at the next step
            elif self.holding and not held:
                log.warning("jobs: scheduler %s lost the lease", self.owner)
            self.holding = held
            return held

    def _keep(self) -> None:
        while not self._stop.wait(max(0.05, self.lease_ms / 3000)):
            try:
                self._try_lease(force=True)
            except Exception:  # a database hiccup: try again next period
                if is_closed(self.env.engine):  # its process is going: nothing to keep
                    self.abandon()
                    return
                log.exception("jobs: lease renewal failed")

    # -- schedules ------------------------------------------------------------------

    def _parse(self, spec: str, trading_days: bool) -> Schedule:
        key = (spec, trading_days)
        sched = self._parsed.get(key)
        if sched is None:
            sched = parse_schedule(spec, self.env.calendar, trading_days=trading_days)
            self._parsed[key] = sched
        return sched

    def next_due_ms(self) -> int | None:
        """The earliest stored next fire time of an enabled job (as of the last step)."""
        times = [r.next_fire_ms for r in self._snapshot if r.enabled and r.next_fire_ms]
        return min(times) if times else None

    # -- the step ---------------------------------------------------------------------

    def step(self, now_ms: int | None = None) -> list[RunRow]:
        """Run everything due at ``now_ms`` (default: the clock's now); returns the runs
        stored by this step, in order. Does nothing without the lease."""
        with self._run_lock:
            return self._step(now_ms)

    def _step(self, now_ms: int | None) -> list[RunRow]:
        if not self._started:
            self.start()
        now = int(self.clock.now()) if now_ms is None else int(now_ms)
        if not self._try_lease():
            return []
        rows = self.repo.schedules()
        self._snapshot = rows
        due: list[_Due] = []
        if self._watch_from is None:
            self._watch_from = now
            due += self._recover(now, rows)
        taken = {d.job for d in due}
        due += [d for d in self._due(now, rows) if d.job not in taken]
        due.sort(key=lambda d: (d.fire_ms, d.order, d.job))
        done: list[RunRow] = []
        for item in due:
            if not self.holding:
                break
            row = self._execute(item)
            if row is not None:
                done.append(row)
        for queued in self.repo.queued():
            if not self.holding:
                break
            row = self._run_queued(queued)
            if row is not None:
                done.append(row)
        if done:
            self._snapshot = self.repo.schedules()
        return done

    def _due(self, now: int, rows: Iterable[ScheduleRow]) -> list[_Due]:
        out = []
        watch = self._watch_from if self._watch_from is not None else now
        for row in rows:
            job = self.jobs.get(row.name)
            if job is None or not row.enabled:
                continue
            try:
                sched = self._parse(row.spec, row.trading_days)
            except ScheduleError as exc:  # stored by hand, not through change_schedule
                log.error("jobs: %s: %s", row.name, exc)
                continue
            if sched.kind == "once":
                continue
            first = row.next_fire_ms
            if first is None:
                first = sched.next_fire(now - 1)
                self.repo.set_next_fire(row.name, first, expect=None)
                if first is None or first > now:
                    continue
                expect: int | None = first
            else:
                expect = first
            if first > now:
                continue
            last, count = first, 1
            while True:
                nxt = sched.next_fire(last)
                if nxt is None or nxt > now:
                    break
                last, count = nxt, count + 1
            following = sched.next_fire(last)
            inputs: dict[str, Any] = {"coalesced": count - 1} if count > 1 else {}
            item = _Due(row.name, last, job.order, inputs=inputs, advance=(expect, following))
            if last < watch:
                grace = (
                    int(job.misfire_grace_s * 1000)
                    if job.misfire_grace_s is not None
                    else self.grace_ms
                )
                late = running_ms(self.clock, last, now)
                if late > grace:
                    item.missed = (
                        f"missed: due {late / 1000:.0f} s before this scheduler started"
                        f" (grace {grace / 1000:.0f} s)"
                        + (f"; {count - 1} earlier fire times coalesced" if count > 1 else "")
                    )
            out.append(item)
        return out

    def _recover(self, now: int, rows: list[ScheduleRow]) -> list[_Due]:
        """On taking the lease: interrupted runs, their retries, ``once`` jobs."""
        out: list[_Due] = []
        wall = self._wall()
        if self._recover_runs:
            for orphan in self.repo.interrupt_orphans(self.owner, now, wall):
                log.warning(
                    "jobs: %s (fire %s, attempt %d) was interrupted",
                    orphan.job,
                    orphan.fire_ms,
                    orphan.attempt,
                )
                self._notify(orphan.id)
            out += self._retries(now, rows)
        by_name = {r.name: r for r in rows}
        for name, job in self.jobs.items():
            row = by_name.get(name)
            if row is None or not row.enabled or any(d.job == name for d in out):
                continue
            if self._parse(row.spec, row.trading_days).kind != "once":
                continue
            reason = job.needed_at_start(self.env, self.repo)
            if reason:
                out.append(_Due(name, now, job.order, inputs={"reason": reason}))
        return out

    def _retries(self, now: int, rows: list[ScheduleRow]) -> list[_Due]:
        by_name = {r.name: r for r in rows}
        out: list[_Due] = []
        interrupted = self.repo.runs(statuses=["interrupted"], trigger="schedule", limit=200)
        seen: set[tuple[str, int]] = set()
        for run in interrupted:
            job = self.jobs.get(run.job)
            row = by_name.get(run.job)
            key = (run.job, run.fire_ms)
            if job is None or row is None or not row.enabled or key in seen:
                continue
            seen.add(key)
            if not job.retry_interrupted or run.attempt >= job.max_attempts:
                continue
            later = self.repo.runs(run.job, fire_from=run.fire_ms, fire_before=run.fire_ms + 1)
            if any(r.attempt > run.attempt and r.trigger == "schedule" for r in later):
                continue  # retried already
            sched = self._parse(row.spec, row.trading_days)
            nxt = sched.next_fire(run.fire_ms)
            if sched.kind != "once" and nxt is not None and nxt <= now:
                continue  # a newer fire time has come: it does the work
            out.append(
                _Due(
                    run.job,
                    run.fire_ms,
                    job.order,
                    attempt=run.attempt + 1,
                    inputs={"retry_of": run.id},
                )
            )
        return out

    # -- running ---------------------------------------------------------------------

    def _execute(self, item: _Due) -> RunRow | None:
        now = int(self.clock.now())
        wall = self._wall()
        if item.missed:
            run_id = self.repo.record_run(
                item.job,
                fire_ms=item.fire_ms,
                trigger=item.trigger,
                status="skipped",
                owner=self.owner,
                now_ms=now,
                wall_ms=wall,
                error=item.missed,
                inputs=item.inputs,
            )
            if item.advance is not None:
                self.repo.set_next_fire(item.job, item.advance[1], expect=item.advance[0])
            log.warning("jobs: %s %s", item.job, item.missed)
            return self._notify(run_id)
        if item.run_id is None:
            run_id = self.repo.begin_run(
                item.job,
                fire_ms=item.fire_ms,
                trigger=item.trigger,
                attempt=item.attempt,
                owner=self.owner,
                started_ms=now,
                wall_ms=wall,
                inputs=item.inputs,
                advance=item.advance,
                unique_fire=item.trigger == "manual",
            )
            if run_id is None:  # this fire time was started before: never twice
                if item.advance is not None:
                    self.repo.set_next_fire(item.job, item.advance[1], expect=item.advance[0])
                return None
        else:
            run_id = item.run_id
        self._notify(run_id)
        job = self.jobs[item.job]
        ctx = JobContext(
            job=item.job,
            run_id=run_id,
            fire_ms=item.fire_ms if item.trigger != "manual" else now,
            now_ms=now,
            trigger=item.trigger,
            attempt=item.attempt,
            env=self.env,
            runs=self.repo,
            inputs=dict(item.inputs),
        )
        status, error = "ok", ""
        try:
            job.run(ctx)
        except JobSkipped as exc:
            status, error = "skipped", _one_line(exc)
            log.info("jobs: %s skipped: %s", item.job, error)
        except Exception as exc:
            status, error = "failed", _one_line(exc)
            log.error("jobs: %s failed: %s\n%s", item.job, error, traceback.format_exc())
        self.repo.finish_run(
            run_id,
            status=status,
            finished_ms=int(self.clock.now()),
            wall_ms=self._wall(),
            inputs=ctx.inputs,
            outputs=ctx.outputs,
            error=error,
        )
        return self._notify(run_id)

    def _run_queued(self, queued: RunRow) -> RunRow | None:
        now = int(self.clock.now())
        if queued.job not in self.jobs:
            if self.repo.claim_queued(queued.id, self.owner, now, self._wall()):
                self.repo.finish_run(
                    queued.id,
                    status="failed",
                    finished_ms=now,
                    wall_ms=self._wall(),
                    inputs=queued.inputs,
                    outputs={},
                    error=f"unknown job {queued.job!r}",
                )
            return None
        if not self.repo.claim_queued(queued.id, self.owner, now, self._wall()):
            return None
        item = _Due(
            queued.job,
            queued.fire_ms,
            self.jobs[queued.job].order,
            trigger="manual",
            inputs=dict(queued.inputs),
            run_id=queued.id,
        )
        return self._execute(item)

    def run_now(self, name: str, by: str = "admin") -> RunRow:
        """Trigger ``name`` by hand: run it here if this scheduler holds the lease,
        else queue it for the holder (the returned run is then ``queued``).

        It waits for a step in progress on another thread (one job at a time); a
        server thread would rather queue (``repo.queue_manual``) and wake the
        :class:`SchedulerThread`."""
        with self._run_lock:
            return self._run_now(name, by)

    def _run_now(self, name: str, by: str) -> RunRow:
        if not self._started:
            self.start()
        key = self.check_job(name)
        if self._try_lease(force=True):
            now = int(self.clock.now())
            item = _Due(
                key, now, self.jobs[key].order, trigger="manual", inputs={"requested_by": by}
            )
            row = self._execute(item)
            if row is not None:
                return row
        run_id = self.repo.queue_manual(key, self._wall(), by)
        row = self.repo.run(run_id)
        assert row is not None
        return row

    def check_job(self, name: str) -> str:
        """``name`` normalised, or a one-line NotFoundError."""
        from quantdesk.jobs.admin import check_job

        return check_job(name, self.registry)

    def _notify(self, run_id: int | None) -> RunRow | None:
        if run_id is None:
            return None
        row = self.repo.run(run_id)
        if row is not None:
            for listener in self.listeners:
                try:
                    listener(row)
                except Exception:  # a listener never breaks the scheduler
                    log.exception("jobs: run listener failed")
        return row

    def seconds_until_due(self, now_ms: int | None = None) -> float | None:
        """Wall seconds until the next stored fire time (None: nothing scheduled)."""
        nxt = self.next_due_ms()
        if nxt is None:
            return None
        now = int(self.clock.now()) if now_ms is None else now_ms
        return wall_seconds_until(self.clock, now, nxt)


class SchedulerThread(threading.Thread):
    """Steps a scheduler on its own thread: sleeps until the next fire time (converted to
    wall time at the clock's speed), at most ``poll_s`` so admin changes, manual runs
    and a free lease are seen soon."""

    def __init__(self, scheduler: Scheduler, *, poll_s: float | None = None) -> None:
        super().__init__(name="quantdesk-jobs", daemon=True)
        self.scheduler = scheduler
        self.poll_s = poll_s if poll_s is not None else scheduler.env.settings.jobs_poll_seconds
        self._stop_event = threading.Event()
        self._wake = threading.Event()

    def run(self) -> None:
        sched = self.scheduler
        try:
            sched.start()
        except Exception:
            log.exception("jobs: the scheduler could not start")
            return
        while not self._stop_event.is_set():
            try:
                sched.step()
                wait = sched.seconds_until_due()
            except Exception:
                if is_closed(sched.env.engine):  # its process is going: nothing to run
                    log.info("jobs: the store is closed; the scheduler stops")
                    sched.abandon()
                    return
                log.exception("jobs: scheduler step failed")
                wait = None
            wait = self.poll_s if wait is None else min(self.poll_s, max(0.0, wait))
            self._wake.wait(wait)
            self._wake.clear()

    def wake(self) -> None:
        """Step now (after a manual run was queued or a schedule changed)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        self._wake.set()
        self.join(timeout)
        self.scheduler.close()


def start_scheduler(
    settings: Settings,
    store: Store,
    clock: Any,
    *,
    market: str | None = None,
    services: dict[str, Any] | None = None,
) -> SchedulerThread:
    """The one call a runner makes: the jobs of ``store`` stepping on their own thread on
    ``clock`` (stop them with ``.stop()``).

    ``clock`` is read from that thread too: pass a :class:`~quantdesk.jobs.clock.SharedClock`
    and let the runner read the same object (a bare
    :class:`~quantdesk.runtime.clock.VirtualClock` is not safe to read from two threads).
    ``services`` hands the runner's live objects (``strategy``, ``broker``, ...) to the jobs.
    """
    env = JobEnvironment.open(settings, store, market=market, services=services)
    thread = SchedulerThread(Scheduler(env, clock))
    thread.start()
    return thread
