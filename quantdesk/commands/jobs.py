"""``quantdesk jobs list | run | history | set``: seed B's scheduled jobs.

``run`` executes the job in this process when no scheduler holds the store's
lease (a platform is not running); otherwise it queues the run for that
scheduler and waits for its result. Times are shown in the exchange's zone.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from quantdesk.commands._common import MarketOpt, _fail, _open, _settings
from quantdesk.errors import QuantdeskError

app = typer.Typer(
    help="Scheduled jobs of the trading day: list, run by hand, history, change a schedule.",
    no_args_is_help=True,
)


def _env(market: str | None) -> Any:
    from quantdesk.jobs import JobEnvironment

    settings = _settings(market=market)
    store = _open(settings)
    return JobEnvironment.open(settings, store)


def _repo(env: Any) -> Any:
    from quantdesk.storage.jobs import JobRepository
    from quantdesk.storage.permissions import PermissionRepository

    repo = JobRepository(env.engine)
    repo.create_tables()
    PermissionRepository(env.engine).create_tables()
    return repo


def _local(env: Any, t_ms: int | None) -> str:
    if t_ms is None:
        return "-"
    import datetime as dt

    return f"{dt.datetime.fromtimestamp(t_ms / 1000, env.calendar.tz):%Y-%m-%d %H:%M:%S}"


def _took(row: Any) -> str:
    if row.wall_started_ms is None or row.wall_finished_ms is None:
        return "-"
    return f"{(row.wall_finished_ms - row.wall_started_ms) / 1000:.1f} s"


@app.command("list")
def list_jobs(market: MarketOpt = None) -> None:
    """Every job: schedule (exchange time), enabled, next run, last run and its status."""
    try:
        env = _env(market)
        with env.store:
            from quantdesk.jobs.admin import job_statuses

            statuses = job_statuses(_repo(env), env)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(f"{'job':<19}{'schedule':<24}{'on':<4}{'next run':<22}last run")
    for st in statuses:
        spec = st.spec + (" td" if st.trading_days else "")
        nxt = _local(env, st.next_fire_ms) + ("*" if st.next_estimated else "")
        last = "-"
        if st.last is not None:
            last = f"{_local(env, st.last.fire_ms)} {st.last.status}"
            if st.last.error:
                last += f": {st.last.error[:60]}"
        on = "yes" if st.enabled else "no"
        typer.echo(f"{st.name:<19}{spec:<24}{on:<4}{nxt:<22}{last}")
    typer.echo(
        f"times in {env.calendar.tz.key}; td = trading days only;"
        " * = from the wall clock (no scheduler has run yet)"
    )


@app.command("run")
def run_job(
    name: Annotated[str, typer.Argument(help="the job, e.g. price_sync")],
    market: MarketOpt = None,
    wait: Annotated[
        float, typer.Option(help="seconds to wait for a running platform's scheduler")
    ] = 600.0,
) -> None:
    """Run a job now (here, or through the running platform's scheduler)."""
    try:
        env = _env(market)
        with env.store:
            from quantdesk.jobs.scheduler import Scheduler
            from quantdesk.runtime.clock import WallClock

            # the lease is renewed while the job runs, so no platform starting meanwhile
            # takes this run for a dead one
            scheduler = Scheduler(env, WallClock(), recover=False)
            scheduler.start()
            try:
                row = scheduler.run_now(name, by="cli")
            finally:
                scheduler.close()
            from quantdesk.storage.audit import audit, cli_identity

            who, where = cli_identity()
            audit(
                env.engine,
                "job.run",
                user=who,
                client=where,
                detail={"job": row.job, "run_id": row.id, "status": row.status},
            )
            if row.status == "queued":
                typer.echo(f"{row.job}: queued as run {row.id} for the running scheduler ...")
                row = _wait(scheduler.repo, row.id, wait)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    _print_run(env, row)
    if row.status in ("failed", "interrupted"):
        raise typer.Exit(code=1)


def _wait(repo: Any, run_id: int, timeout: float) -> Any:
    from quantdesk.errors import StorageError

    deadline = time.monotonic() + timeout
    while True:
        row = repo.run(run_id)
        if row is not None and row.status not in ("queued", "started"):
            return row
        if time.monotonic() >= deadline:
            state = row.status if row is not None else "gone"
            raise StorageError(f"run {run_id} is still {state} after {timeout:g} s")
        time.sleep(0.2)


def _print_run(env: Any, row: Any) -> None:
    import orjson

    line = f"{row.job}: {row.status} (run {row.id}, {row.trigger}, {_took(row)})"
    typer.echo(line + (f": {row.error}" if row.error else ""))
    if row.inputs:
        typer.echo(f"  read:  {orjson.dumps(row.inputs, default=str).decode()[:400]}")
    if row.outputs:
        typer.echo(f"  wrote: {orjson.dumps(row.outputs, default=str).decode()[:400]}")


@app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="the job, e.g. buy")],
    market: MarketOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="how many runs, newest first")] = 20,
) -> None:
    """The job's runs, newest first: fire time, status, duration, error."""
    try:
        env = _env(market)
        with env.store:
            from quantdesk.jobs.admin import check_job

            key = check_job(name)
            rows = _repo(env).runs(key, limit=limit)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    if not rows:
        typer.echo(f"{key}: no runs yet")
        return
    typer.echo(
        f"{'run':>6} {'fire time':<20}{'trigger':<9}{'try':<4}{'status':<12}{'took':<9}error"
    )
    for r in rows:
        typer.echo(
            f"{r.id:>6} {_local(env, r.fire_ms):<20}{r.trigger:<9}{r.attempt:<4}"
            f"{r.status:<12}{_took(r):<9}{r.error[:80]}"
        )


@app.command("set")
def set_schedule(
    name: Annotated[str, typer.Argument(help="the job, e.g. sell")],
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            help="cron:M H DOM MON DOW (exchange time), every:<N><m|h|d|w>[@HH:MM] or once",
        ),
    ] = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="run it, or not")
    ] = None,
    trading_days: Annotated[
        bool | None,
        typer.Option("--trading-days/--all-days", help="fire on trading days only, or any day"),
    ] = None,
    market: MarketOpt = None,
) -> None:
    """Change a job's schedule (kept across restarts; a running scheduler applies it at once)."""
    if schedule is None and enable is None and trading_days is None:
        raise _fail(
            ValueError(
                "nothing to change: give --schedule, --enable/--disable or "
                "--trading-days/--all-days"
            )
        )
    try:
        env = _env(market)
        with env.store:
            from quantdesk.jobs.admin import change_schedule
            from quantdesk.storage.audit import cli_identity

            who, where = cli_identity()
            row = change_schedule(
                _repo(env),
                env,
                name,
                spec=schedule,
                enabled=enable,
                trading_days=trading_days,
                by=who,
                client=where,
            )
    except QuantdeskError as exc:
        raise _fail(exc) from None
    days = ", trading days only" if row.trading_days else ""
    state = "enabled" if row.enabled else "disabled"
    typer.echo(f"{row.name}: {row.spec}{days}, {state}")
