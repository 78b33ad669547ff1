"""Job schedules, job runs and the scheduler lease (seed B's workflow), written once.

Tables (SQLAlchemy Core on :data:`~quantdesk.storage.sql.METADATA`; times are
``BIGINT`` epoch ms UTC):

``job_schedules``
    one row per job: ``spec`` (``cron:M H DOM MON DOW``, ``every:3d@08:30`` or
    ``once``), ``trading_days`` (daily jobs fire on trading days only),
    ``enabled``, ``origin`` (``default``: follows the settings; ``admin``: changed at
    run time, kept across restarts and setting changes) and ``next_fire_ms``, the
    next fire time not handled yet (``NULL``: computed from the scheduler's clock).
``job_runs``
    one row per run, written *before* the job starts: job, scheduled fire time
    (``fire_ms``, exchange clock), ``trigger`` (``schedule`` or ``manual``),
    ``attempt``, ``status`` (``queued`` -> ``started`` -> ``ok``/``failed``/
    ``skipped``; ``interrupted`` when its process died), exchange-clock and wall
    start/finish, what it read (``inputs``) and wrote (``outputs``) as JSON, the
    error line and the ``owner`` (scheduler id). ``UNIQUE (job, trigger, fire_ms,
    attempt)`` makes "exactly once per fire time" a database fact: a second
    scheduler (or a restarted one) cannot start the same fire time again.
``job_lease``
    one row per lease name: which scheduler owns the store and until when (wall
    clock). A scheduler runs nothing unless it holds the lease.

:class:`JobRepository` takes a SQLAlchemy :class:`~sqlalchemy.Engine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import sqlalchemy as sa

from quantdesk.storage.sql import METADATA, Millis, insert_new

__all__ = [
    "JOB_LEASE",
    "JOB_RUNS",
    "JOB_SCHEDULES",
    "RUN_STATUSES",
    "TABLES",
    "JobRepository",
    "RunRow",
    "ScheduleRow",
]

#: Every status a run can have; the last four are final.
RUN_STATUSES: Final = ("queued", "started", "ok", "failed", "skipped", "interrupted")
FINAL_STATUSES: Final = frozenset({"ok", "failed", "skipped", "interrupted"})

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: rowid alias

JOB_SCHEDULES = sa.Table(
    "job_schedules",
    METADATA,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("spec", sa.String(200), nullable=False),
    sa.Column("trading_days", sa.Boolean, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("next_fire_ms", Millis, nullable=True),
    sa.Column("updated_ms", Millis, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
)

JOB_RUNS = sa.Table(
    "job_runs",
    METADATA,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("fire_ms", Millis, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_ms", Millis, nullable=True),
    sa.Column("finished_ms", Millis, nullable=True),
    sa.Column("wall_started_ms", Millis, nullable=True),
    sa.Column("wall_finished_ms", Millis, nullable=True),
    sa.Column("inputs", sa.Text, nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("owner", sa.String(160), nullable=False),
    sa.UniqueConstraint("job", "trigger", "fire_ms", "attempt", name="job_runs_once"),
    sa.Index("job_runs_by_fire", "fire_ms"),
    sa.Index("job_runs_by_status", "status"),
)

JOB_LEASE = sa.Table(
    "job_lease",
    METADATA,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(160), nullable=False),
    sa.Column("acquired_ms", Millis, nullable=False),
    sa.Column("expires_ms", Millis, nullable=False),
)

#: The tables of this family (for ``METADATA.create_all(engine, tables=TABLES)``).
TABLES: Final = (JOB_SCHEDULES, JOB_RUNS, JOB_LEASE)


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """One stored schedule."""

    name: str
    spec: str
    trading_days: bool
    enabled: bool
    origin: str
    next_fire_ms: int | None
    updated_ms: int
    updated_by: str


@dataclass(frozen=True, slots=True)
class RunRow:
    """One stored run (``inputs``/``outputs`` decoded)."""

    id: int
    job: str
    trigger: str
    fire_ms: int
    attempt: int
    status: str
    started_ms: int | None
    finished_ms: int | None
    wall_started_ms: int | None
    wall_finished_ms: int | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: str
    owner: str


def _json(doc: Mapping[str, Any] | None) -> str:
    return orjson.dumps(dict(doc or {}), default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _schedule(row: sa.Row[Any]) -> ScheduleRow:
    m = row._mapping
    return ScheduleRow(
        name=m["name"],
        spec=m["spec"],
        trading_days=bool(m["trading_days"]),
        enabled=bool(m["enabled"]),
        origin=m["origin"],
        next_fire_ms=None if m["next_fire_ms"] is None else int(m["next_fire_ms"]),
        updated_ms=int(m["updated_ms"]),
        updated_by=m["updated_by"],
    )


def _opt(v: Any) -> int | None:
    return None if v is None else int(v)


def _run(row: sa.Row[Any]) -> RunRow:
    m = row._mapping
    return RunRow(
        id=int(m["id"]),
        job=m["job"],
        trigger=m["trigger"],
        fire_ms=int(m["fire_ms"]),
        attempt=int(m["attempt"]),
        status=m["status"],
        started_ms=_opt(m["started_ms"]),
        finished_ms=_opt(m["finished_ms"]),
        wall_started_ms=_opt(m["wall_started_ms"]),
        wall_finished_ms=_opt(m["wall_finished_ms"]),
        inputs=orjson.loads(m["inputs"] or "{}"),
        outputs=orjson.loads(m["outputs"] or "{}"),
        error=m["error"],
        owner=m["owner"],
    )


def _free_fire(conn: sa.Connection, job: str, trigger: str, fire_ms: int) -> int:
    """The first millisecond at or after ``fire_ms`` with no run of ``(job, trigger)``: a
    key for a manual run (two of them at one instant stay distinct)."""
    taken = {
        int(r[0])
        for r in conn.execute(
            sa.select(JOB_RUNS.c.fire_ms).where(
                JOB_RUNS.c.job == job,
                JOB_RUNS.c.trigger == trigger,
                JOB_RUNS.c.fire_ms >= fire_ms,
                JOB_RUNS.c.fire_ms < fire_ms + 1000,
            )
        )
    }
    while fire_ms in taken:
        fire_ms += 1
    return fire_ms


class JobRepository:
    """Schedules, runs and the lease on one database (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create_tables(self) -> None:
        """Create the tables if missing (until the numbered migration step exists)."""
        METADATA.create_all(self.engine, tables=list(TABLES))

    # -- schedules --------------------------------------------------------------

    def ensure_schedules(
        self, defaults: Iterable[tuple[str, str, bool]], now_ms: int
    ) -> list[ScheduleRow]:
        """Store each ``(name, spec, trading_days)`` default that is missing; a row that
        still follows the defaults (``origin = 'default'``) takes a changed default.
        Rows an admin changed are left alone. Returns every stored schedule."""
        with self.engine.begin() as conn:
            stored = {
                r.name: _schedule(r) for r in conn.execute(sa.select(JOB_SCHEDULES)).fetchall()
            }
            new = []
            for name, spec, trading_days in defaults:
                row = stored.get(name)
                if row is None:
                    new.append(
                        {
                            "name": name,
                            "spec": spec,
                            "trading_days": trading_days,
                            "enabled": True,
                            "origin": "default",
                            "next_fire_ms": None,
                            "updated_ms": now_ms,
                            "updated_by": "defaults",
                        }
                    )
                elif row.origin == "default" and (
                    row.spec != spec or row.trading_days != trading_days
                ):
                    conn.execute(
                        JOB_SCHEDULES.update()
                        .where(JOB_SCHEDULES.c.name == name, JOB_SCHEDULES.c.origin == "default")
                        .values(
                            spec=spec,
                            trading_days=trading_days,
                            next_fire_ms=None,
                            updated_ms=now_ms,
                            updated_by="defaults",
                        )
                    )
            insert_new(conn, JOB_SCHEDULES, new, ["name"])
        return self.schedules()

    def schedules(self) -> list[ScheduleRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(JOB_SCHEDULES).order_by(JOB_SCHEDULES.c.name))
            return [_schedule(r) for r in rows]

    def schedule(self, name: str) -> ScheduleRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(JOB_SCHEDULES).where(JOB_SCHEDULES.c.name == name)).first()
        return None if row is None else _schedule(row)

    def update_schedule(
        self,
        name: str,
        *,
        now_ms: int,
        by: str,
        spec: str | None = None,
        enabled: bool | None = None,
        trading_days: bool | None = None,
    ) -> ScheduleRow | None:
        """Change a stored schedule (already validated by the caller); it becomes an admin
        row and its next fire time is recomputed by the scheduler. None if no such job."""
        values: dict[str, Any] = {"updated_ms": now_ms, "updated_by": by, "origin": "admin"}
        if spec is not None:
            values["spec"] = spec
            values["next_fire_ms"] = None
        if trading_days is not None:
            values["trading_days"] = trading_days
            values["next_fire_ms"] = None
        if enabled is not None:
            values["enabled"] = enabled
            values["next_fire_ms"] = None
        with self.engine.begin() as conn:
            done = conn.execute(
                JOB_SCHEDULES.update().where(JOB_SCHEDULES.c.name == name).values(**values)
            )
            if done.rowcount == 0:
                return None
        return self.schedule(name)

    def set_next_fire(self, name: str, next_fire_ms: int | None, expect: int | None) -> bool:
        """Set ``next_fire_ms`` if it is still ``expect`` (compare-and-set: an admin's change
        made meanwhile is not overwritten)."""
        col = JOB_SCHEDULES.c.next_fire_ms
        cond = col.is_(None) if expect is None else col == expect
        with self.engine.begin() as conn:
            done = conn.execute(
                JOB_SCHEDULES.update()
                .where(JOB_SCHEDULES.c.name == name, cond)
                .values(next_fire_ms=next_fire_ms)
            )
        return bool(done.rowcount)

    # -- runs ---------------------------------------------------------------------

    def begin_run(
        self,
        job: str,
        *,
        fire_ms: int,
        trigger: str,
        attempt: int,
        owner: str,
        started_ms: int,
        wall_ms: int,
        inputs: Mapping[str, Any] | None = None,
        advance: tuple[int | None, int | None] | None = None,
        unique_fire: bool = False,
    ) -> int | None:
        """Store a run as ``started`` before it starts; None if this (job, trigger, fire
        time, attempt) was started already (by this or another scheduler).

        ``advance=(expect, next)`` moves the schedule's ``next_fire_ms`` from ``expect``
        to ``next`` in the same transaction, so a crash leaves both or neither.
        ``unique_fire`` (manual runs) moves ``fire_ms`` on to the first free millisecond.
        """
        with self.engine.begin() as conn:
            if unique_fire:
                fire_ms = _free_fire(conn, job, trigger, fire_ms)
            insert_new(
                conn,
                JOB_RUNS,
                [
                    {
                        "job": job,
                        "trigger": trigger,
                        "fire_ms": fire_ms,
                        "attempt": attempt,
                        "status": "started",
                        "started_ms": started_ms,
                        "finished_ms": None,
                        "wall_started_ms": wall_ms,
                        "wall_finished_ms": None,
                        "inputs": _json(inputs),
                        "outputs": "{}",
                        "error": "",
                        "owner": owner,
                    }
                ],
                ["job", "trigger", "fire_ms", "attempt"],
            )
            row = conn.execute(
                sa.select(JOB_RUNS.c.id, JOB_RUNS.c.owner, JOB_RUNS.c.status).where(
                    JOB_RUNS.c.job == job,
                    JOB_RUNS.c.trigger == trigger,
                    JOB_RUNS.c.fire_ms == fire_ms,
                    JOB_RUNS.c.attempt == attempt,
                )
            ).first()
            if row is None or row.owner != owner or row.status != "started":
                return None  # a concurrent scheduler won the insert
            if advance is not None:
                expect, nxt = advance
                col = JOB_SCHEDULES.c.next_fire_ms
                cond = col.is_(None) if expect is None else col == expect
                conn.execute(
                    JOB_SCHEDULES.update()
                    .where(JOB_SCHEDULES.c.name == job, cond)
                    .values(next_fire_ms=nxt)
                )
            return int(row.id)

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        finished_ms: int,
        wall_ms: int,
        inputs: Mapping[str, Any],
        outputs: Mapping[str, Any],
        error: str = "",
    ) -> bool:
        """Record how a started run ended; False if it is no longer ``started`` (another
        scheduler declared it interrupted after this one lost the lease)."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"not a final run status: {status!r}")
        with self.engine.begin() as conn:
            done = conn.execute(
                JOB_RUNS.update()
                .where(JOB_RUNS.c.id == run_id, JOB_RUNS.c.status == "started")
                .values(
                    status=status,
                    finished_ms=finished_ms,
                    wall_finished_ms=wall_ms,
                    inputs=_json(inputs),
                    outputs=_json(outputs),
                    error=error,
                )
            )
        return bool(done.rowcount)

    def record_run(
        self,
        job: str,
        *,
        fire_ms: int,
        trigger: str,
        status: str,
        owner: str,
        now_ms: int,
        wall_ms: int,
        error: str = "",
        inputs: Mapping[str, Any] | None = None,
        attempt: int = 1,
    ) -> int | None:
        """Store a run that never started (a missed fire time): final at once."""
        with self.engine.begin() as conn:
            insert_new(
                conn,
                JOB_RUNS,
                [
                    {
                        "job": job,
                        "trigger": trigger,
                        "fire_ms": fire_ms,
                        "attempt": attempt,
                        "status": status,
                        "started_ms": None,
                        "finished_ms": now_ms,
                        "wall_started_ms": None,
                        "wall_finished_ms": wall_ms,
                        "inputs": _json(inputs),
                        "outputs": "{}",
                        "error": error,
                        "owner": owner,
                    }
                ],
                ["job", "trigger", "fire_ms", "attempt"],
            )
            row = conn.execute(
                sa.select(JOB_RUNS.c.id).where(
                    JOB_RUNS.c.job == job,
                    JOB_RUNS.c.trigger == trigger,
                    JOB_RUNS.c.fire_ms == fire_ms,
                    JOB_RUNS.c.attempt == attempt,
                )
            ).first()
        return None if row is None else int(row.id)

    def interrupt_orphans(self, owner: str, now_ms: int, wall_ms: int) -> list[RunRow]:
        """Mark every ``started`` run of another owner ``interrupted`` (called by the new
        lease holder: their scheduler is gone). Returns the runs so marked."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(JOB_RUNS).where(JOB_RUNS.c.status == "started", JOB_RUNS.c.owner != owner)
            ).fetchall()
            if rows:
                conn.execute(
                    JOB_RUNS.update()
                    .where(JOB_RUNS.c.id.in_([r.id for r in rows]), JOB_RUNS.c.status == "started")
                    .values(
                        status="interrupted",
                        finished_ms=now_ms,
                        wall_finished_ms=wall_ms,
                        error="interrupted: its scheduler stopped before the run finished",
                    )
                )
        return [_run(r) for r in rows]

    def queue_manual(self, job: str, requested_ms: int, by: str) -> int:
        """Ask the lease holder to run ``job`` now; returns the run id to watch."""
        with self.engine.begin() as conn:
            fire = _free_fire(conn, job, "manual", requested_ms)
            res = conn.execute(
                JOB_RUNS.insert().values(
                    job=job,
                    trigger="manual",
                    fire_ms=fire,
                    attempt=1,
                    status="queued",
                    inputs=_json({"requested_by": by}),
                    outputs="{}",
                    error="",
                    owner="",
                )
            )
            pk = res.inserted_primary_key
            assert pk is not None
            return int(pk[0])

    def queued(self) -> list[RunRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(JOB_RUNS).where(JOB_RUNS.c.status == "queued").order_by(JOB_RUNS.c.id)
            ).fetchall()
        return [_run(r) for r in rows]

    def claim_queued(self, run_id: int, owner: str, started_ms: int, wall_ms: int) -> bool:
        """Turn a queued manual run into a started one owned by ``owner`` (atomic); its
        fire time becomes the exchange-clock start (the queue only knew the wall clock)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(JOB_RUNS.c.job).where(
                    JOB_RUNS.c.id == run_id, JOB_RUNS.c.status == "queued"
                )
            ).first()
            if row is None:
                return False
            fire = _free_fire(conn, row.job, "manual", started_ms)
            done = conn.execute(
                JOB_RUNS.update()
                .where(JOB_RUNS.c.id == run_id, JOB_RUNS.c.status == "queued")
                .values(
                    status="started",
                    owner=owner,
                    fire_ms=fire,
                    started_ms=started_ms,
                    wall_started_ms=wall_ms,
                )
            )
        return bool(done.rowcount)

    def run(self, run_id: int) -> RunRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(JOB_RUNS).where(JOB_RUNS.c.id == run_id)).first()
        return None if row is None else _run(row)

    def runs(
        self,
        job: str | None = None,
        *,
        limit: int | None = 50,
        statuses: Sequence[str] | None = None,
        trigger: str | None = None,
        fire_before: int | None = None,
        fire_from: int | None = None,
        ascending: bool = False,
    ) -> list[RunRow]:
        """Runs (of ``job``), newest fire time first unless ``ascending``."""
        q = sa.select(JOB_RUNS)
        if job is not None:
            q = q.where(JOB_RUNS.c.job == job)
        if statuses is not None:
            q = q.where(JOB_RUNS.c.status.in_(list(statuses)))
        if trigger is not None:
            q = q.where(JOB_RUNS.c.trigger == trigger)
        if fire_before is not None:
            q = q.where(JOB_RUNS.c.fire_ms < fire_before)
        if fire_from is not None:
            q = q.where(JOB_RUNS.c.fire_ms >= fire_from)
        if ascending:
            q = q.order_by(JOB_RUNS.c.fire_ms, JOB_RUNS.c.id)
        else:
            q = q.order_by(JOB_RUNS.c.fire_ms.desc(), JOB_RUNS.c.id.desc())
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_run(r) for r in conn.execute(q).fetchall()]

    def last_runs(self) -> dict[str, RunRow]:
        """The newest run of each job (by fire time, then id)."""
        out: dict[str, RunRow] = {}
        with self.engine.connect() as conn:
            jobs = [r[0] for r in conn.execute(sa.select(JOB_RUNS.c.job).distinct())]
            for job in jobs:
                row = conn.execute(
                    sa.select(JOB_RUNS)
                    .where(JOB_RUNS.c.job == job)
                    .order_by(JOB_RUNS.c.fire_ms.desc(), JOB_RUNS.c.id.desc())
                    .limit(1)
                ).first()
                if row is not None:
                    out[job] = _run(row)
        return out

    def purge_runs(self, fire_before: int) -> int:
        """Delete final runs scheduled before ``fire_before``; returns how many."""
        with self.engine.begin() as conn:
            done = conn.execute(
                JOB_RUNS.delete().where(
                    JOB_RUNS.c.fire_ms < fire_before, JOB_RUNS.c.status.in_(FINAL_STATUSES)
                )
            )
        return int(done.rowcount or 0)

    # -- lease ------------------------------------------------------------------

    def acquire_lease(
        self, name: str, owner: str, wall_ms: int, ttl_ms: int, *, steal_from: str | None = None
    ) -> bool:
        """Take or renew lease ``name`` for ``ttl_ms``: True when ``owner`` holds it now.

        It is free when unheld, expired, already ``owner``'s, or held by ``steal_from``
        (a holder known to be dead, e.g. a killed process on this host).
        """
        with self.engine.begin() as conn:
            insert_new(
                conn,
                JOB_LEASE,
                [{"name": name, "owner": owner, "acquired_ms": wall_ms, "expires_ms": wall_ms}],
                ["name"],
            )
            cond = sa.or_(
                JOB_LEASE.c.owner == owner,
                JOB_LEASE.c.expires_ms <= wall_ms,
                *([JOB_LEASE.c.owner == steal_from] if steal_from else []),
            )
            current = conn.execute(
                sa.select(JOB_LEASE.c.owner).where(JOB_LEASE.c.name == name)
            ).scalar_one()
            acquired = wall_ms if current != owner else JOB_LEASE.c.acquired_ms
            done = conn.execute(
                JOB_LEASE.update()
                .where(JOB_LEASE.c.name == name, cond)
                .values(owner=owner, expires_ms=wall_ms + ttl_ms, acquired_ms=acquired)
            )
        return bool(done.rowcount)

    def release_lease(self, name: str, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                JOB_LEASE.update()
                .where(JOB_LEASE.c.name == name, JOB_LEASE.c.owner == owner)
                .values(expires_ms=0)
            )

    def lease(self, name: str) -> tuple[str, int] | None:
        """``(owner, expires_ms)`` of lease ``name``, or None if never taken."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(JOB_LEASE.c.owner, JOB_LEASE.c.expires_ms).where(JOB_LEASE.c.name == name)
            ).first()
        return None if row is None else (row.owner, int(row.expires_ms))
