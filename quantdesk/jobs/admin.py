"""What an admin sees and changes: each job's schedule, next and last run; schedule edits.

Used by ``quantdesk jobs list | set`` (and later by the REST endpoints). A change
is validated completely before anything is stored: an unknown job
(:class:`~quantdesk.errors.NotFoundError`) or a schedule outside the allowed
forms (:class:`~quantdesk.errors.ScheduleError`) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantdesk.errors import NotFoundError
from quantdesk.jobs.base import Job, JobEnvironment
from quantdesk.jobs.clock import wall_ms
from quantdesk.jobs.schedule import parse_schedule
from quantdesk.plugins import Registry
from quantdesk.storage.jobs import JobRepository, RunRow, ScheduleRow

__all__ = ["JobStatus", "change_schedule", "check_job", "job_statuses"]


@dataclass(frozen=True)
class JobStatus:
    """One job as ``quantdesk jobs list`` shows it."""

    name: str
    title: str
    spec: str
    trading_days: bool
    enabled: bool
    origin: str
    next_fire_ms: int | None
    #: True when no scheduler has stored the next fire time yet (computed from ``now``)
    next_estimated: bool
    last: RunRow | None


def _registry(registry: Registry[type[Job]] | None) -> Registry[type[Job]]:
    from quantdesk.jobs import JOBS

    return registry if registry is not None else JOBS


def check_job(name: str, registry: Registry[type[Job]] | None = None) -> str:
    """``name`` normalised, or a one-line :class:`NotFoundError` listing the jobs."""
    reg = _registry(registry)
    key = name.strip().lower()
    if key not in reg:
        raise NotFoundError(f"unknown job {name!r}; known: {', '.join(reg.names())}")
    return key


def _job(reg: Registry[type[Job]], name: str) -> tuple[str, type[Job]]:
    key = check_job(name, reg)
    return key, reg.get(key)


def job_statuses(
    repo: JobRepository,
    env: JobEnvironment,
    now_ms: int | None = None,
    registry: Registry[type[Job]] | None = None,
) -> list[JobStatus]:
    """Every registered job with its stored schedule, next fire time and last run."""
    reg = _registry(registry)
    rows = {r.name: r for r in repo.schedules()}
    last = repo.last_runs()
    now = now_ms if now_ms is not None else wall_ms()
    out = []
    for name in reg.names():
        cls = reg.get(name)
        row = rows.get(name)
        spec = row.spec if row else cls.default_schedule(env.market)
        trading_days = row.trading_days if row else cls.trading_days
        enabled = row.enabled if row else True
        nxt = row.next_fire_ms if row else None
        estimated = False
        if nxt is None and enabled:
            nxt = parse_schedule(spec, env.calendar, trading_days=trading_days).next_fire(now)
            estimated = nxt is not None
        out.append(
            JobStatus(
                name,
                cls.title,
                spec,
                trading_days,
                enabled,
                row.origin if row else "default",
                nxt if enabled else None,
                estimated,
                last.get(name),
            )
        )
    return out


def change_schedule(
    repo: JobRepository,
    env: JobEnvironment,
    name: str,
    *,
    spec: str | None = None,
    enabled: bool | None = None,
    trading_days: bool | None = None,
    by: str = "admin",
    registry: Registry[type[Job]] | None = None,
    client: str = "",
) -> ScheduleRow:
    """An admin's change of one job's schedule (kept across restarts), validated first;
    audited (``job.schedule`` by ``by`` from ``client``)."""
    key, cls = _job(_registry(registry), name)
    current = repo.schedule(key)
    td = trading_days
    if td is None:
        td = current.trading_days if current else cls.trading_days
    new_spec = spec
    if new_spec is None:
        new_spec = current.spec if current else cls.default_schedule(env.market)
    sched = parse_schedule(new_spec, env.calendar, trading_days=td)
    from quantdesk.jobs.scheduler import check_once

    check_once(cls, sched)
    if current is None:
        repo.ensure_schedules(
            [(key, cls.default_schedule(env.market), cls.trading_days)], wall_ms()
        )
    row = repo.update_schedule(
        key,
        now_ms=wall_ms(),
        by=by,
        spec=sched.spec if spec is not None else None,
        enabled=enabled,
        trading_days=trading_days,
    )
    assert row is not None
    from quantdesk.storage.audit import audit

    change = {"spec": spec, "enabled": enabled, "trading_days": trading_days}
    audit(
        repo.engine,
        "job.schedule",
        user=by,
        client=client,
        detail={"job": key, **{k: v for k, v in change.items() if v is not None}},
    )
    return row
