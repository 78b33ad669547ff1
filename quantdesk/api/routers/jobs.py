"""``/api/v2/jobs``: the scheduled jobs, their runs, an admin's schedule changes and manual runs.

The API changes the *store*, never a scheduler object: a schedule change is
stored (:func:`quantdesk.jobs.admin.change_schedule`, audited) and the
scheduler of ``quantdesk run`` reads it at its next step; a manual run is
queued as a run record (status ``queued``) that the lease holder claims at its
next step (at most ``QUANTDESK_JOBS_POLL_SECONDS`` later) — so any API
process, beside the runtime or not, serves the same jobs. Watch the queued run
with ``GET /api/v2/jobs/{name}/runs`` or the ``job`` events of
``/ws/pipeline-status``.

Bad input changes nothing: an unknown job is a 404, a schedule outside the
allowed forms (``cron:M H DOM MON DOW``, ``every:<N><m|h|d|w>[@HH:MM]``,
``once`` for a job that runs at start) a 422, a reader changing or triggering
a job a 403 — each with one line.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from quantdesk.api.security import Admin, current_user
from quantdesk.errors import NotFoundError, ScheduleError
from quantdesk.jobs import JobEnvironment
from quantdesk.jobs.clock import wall_ms
from quantdesk.storage.jobs import JobRepository, RunRow

router = APIRouter(tags=["jobs"], dependencies=[Depends(current_user)])

JobName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class ScheduleBody(BaseModel):
    """What to change (any subset): the schedule, whether it runs, trading days only."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"schedule": "cron:40 9 * * *", "enabled": True}},
    )

    schedule: str | None = Field(None, min_length=1, max_length=100)
    enabled: bool | None = None
    trading_days: bool | None = None


def _jobs(request: Request) -> tuple[JobRepository, JobEnvironment]:
    state = request.app.state
    cached = getattr(state, "jobs", None)
    if cached is None:
        env = JobEnvironment.open(state.settings, state.store)
        repo = JobRepository(env.engine)
        repo.create_tables()
        cached = state.jobs = (repo, env)
    return cached


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def run_json(r: RunRow) -> dict[str, Any]:
    """One run as the API shows it (times ISO 8601 UTC, exchange clock; wall times apart)."""
    took = None
    if r.wall_started_ms is not None and r.wall_finished_ms is not None:
        took = round((r.wall_finished_ms - r.wall_started_ms) / 1000, 3)
    return {
        "id": r.id,
        "job": r.job,
        "trigger": r.trigger,
        "status": r.status,
        "attempt": r.attempt,
        "fire": _iso(r.fire_ms),
        "started": _iso(r.started_ms),
        "finished": _iso(r.finished_ms),
        "wall_seconds": took,
        "inputs": r.inputs,
        "outputs": r.outputs,
        "error": r.error,
    }


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else ""


@router.get("/api/v2/jobs")
def list_jobs(request: Request) -> dict[str, Any]:
    """Every job: schedule (exchange local time), enabled, next run, last run and status."""
    from quantdesk.jobs.admin import job_statuses

    repo, env = _jobs(request)
    jobs = []
    for st in job_statuses(repo, env):
        jobs.append(
            {
                "name": st.name,
                "title": st.title,
                "schedule": st.spec,
                "trading_days": st.trading_days,
                "enabled": st.enabled,
                "origin": st.origin,
                "next_run": _iso(st.next_fire_ms),
                "next_estimated": st.next_estimated,
                "last_run": run_json(st.last) if st.last is not None else None,
            }
        )
    return {"market": env.market, "timezone": env.calendar.tz.key, "jobs": jobs}


@router.get("/api/v2/jobs/{name}/runs")
def job_runs(
    request: Request,
    name: JobName,
    limit: Annotated[int, Query(ge=1, le=1000, description="newest N")] = 50,
) -> list[dict[str, Any]]:
    """The runs of one job, newest fire time first, with what they read, wrote and any error."""
    from quantdesk.jobs.admin import check_job

    repo, _env = _jobs(request)
    try:
        key = check_job(name)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    return [run_json(r) for r in repo.runs(key, limit=limit)]


@router.put("/api/v2/jobs/{name}")
def put_job(request: Request, name: JobName, body: ScheduleBody, user: Admin) -> dict[str, Any]:
    """Change a job's schedule or enable/disable it (stored: it outlives a restart)."""
    from quantdesk.jobs.admin import change_schedule

    if body.schedule is None and body.enabled is None and body.trading_days is None:
        raise HTTPException(422, "body: give schedule, enabled or trading_days")
    repo, env = _jobs(request)
    try:
        row = change_schedule(
            repo,
            env,
            name,
            spec=body.schedule,
            enabled=body.enabled,
            trading_days=body.trading_days,
            by=user.username,
            client=_client(request),
        )
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except ScheduleError as exc:
        raise HTTPException(422, str(exc)) from None
    return {
        "name": row.name,
        "schedule": row.spec,
        "trading_days": row.trading_days,
        "enabled": row.enabled,
        "origin": row.origin,
        "updated_by": row.updated_by,
    }


@router.post("/api/v2/jobs/{name}/run", status_code=202)
def run_job(request: Request, name: JobName, user: Admin) -> dict[str, Any]:
    """Queue a run now for the running scheduler (202: watch it in the job's runs)."""
    from quantdesk.jobs.admin import check_job
    from quantdesk.storage.audit import audit

    repo, _env = _jobs(request)
    try:
        key = check_job(name)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    run_id = repo.queue_manual(key, wall_ms(), user.username)
    audit(
        repo.engine,
        "job.run",
        user=user.username,
        client=_client(request),
        detail={"job": key, "run_id": run_id, "status": "queued"},
    )
    row = repo.run(run_id)
    assert row is not None
    return run_json(row)
