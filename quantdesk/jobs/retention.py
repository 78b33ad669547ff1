"""Data retention: what ``cleanup`` deletes, per table, so a laptop's store stays bounded.

At ``--speed 60`` the stream writes about 100k factor rows per wall minute (about
400k per simulated trading day); nothing else grows nearly as fast. Defaults:

=================  =================================  ==========  =====================
policy             what is deleted                    default     clock of the cut-off
=================  =================================  ==========  =====================
``factor_values``  factor rows with ``ts`` older      7 days      exchange (event time)
                   than the cut-off
``dead_letters``   rejected messages stored before    30 days     wall (when stored)
                   the cut-off
``ticks``          captured tick days (Parquet        7 days      exchange (the
                   ``date=YYYY-MM-DD`` folders under              capture's day)
                   ``<data_dir>/ticks``) before it
``job_runs``       finished runs scheduled before     180 days    exchange
                   the cut-off
``model_versions`` model versions with no alias,      keep 5      —
                   beyond the newest N per model
=================  =================================  ==========  =====================

Each is a setting (``QUANTDESK_RETENTION_FACTOR_DAYS``, ``..._DEAD_LETTER_DAYS``,
``..._TICK_DAYS``, ``..._JOB_RUN_DAYS``, ``QUANTDESK_RETENTION_MODEL_VERSIONS``);
0 keeps everything. The cut-off is taken from the clock the platform runs on
(the virtual clock's event time for data stamped with it), so a simulated month
keeps a simulated week of factors. Deletes go in batches (one symbol at a
time) so the live stream is never blocked for long; SQLite reuses the freed
pages, so the file stops growing rather than shrinking.

Bars, signals, orders, fills and predictions are never deleted here: they are
the history the models and the backtester learn from.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from quantdesk.errors import JobSkipped
from quantdesk.jobs.base import JobContext

__all__ = ["POLICIES", "RetentionPolicy", "purge"]

DAY_MS: Final = 86_400_000

# The stream tables are created by the numbered migrations (raw SQL); these light
# handles only name the columns a purge needs. Times: INTEGER ms on SQLite,
# TIMESTAMPTZ on PostgreSQL.
_FACTORS = sa.table("factor_values", sa.column("symbol"), sa.column("ts"))
_DEAD = sa.table("dead_letters", sa.column("time"))


@dataclass(frozen=True)
class RetentionPolicy:
    name: str
    setting: str
    unit: str  # "days" or "versions"
    describe: str
    apply: Callable[[JobContext, float], dict[str, Any]]


def _bound(conn: sa.Connection, t_ms: int) -> Any:
    if conn.dialect.name == "postgresql":
        return dt.datetime.fromtimestamp(t_ms / 1000, dt.UTC)
    return t_ms


def _purge_factors(ctx: JobContext, days: float) -> dict[str, Any]:
    cutoff = ctx.now_ms - int(days * DAY_MS)
    deleted = 0
    engine = ctx.env.engine
    with engine.connect() as conn:
        symbols = [r[0] for r in conn.execute(sa.select(_FACTORS.c.symbol).distinct())]
    for sym in symbols:
        with engine.begin() as conn:
            res = conn.execute(
                _FACTORS.delete().where(
                    _FACTORS.c.symbol == sym, _FACTORS.c.ts < _bound(conn, cutoff)
                )
            )
            deleted += int(res.rowcount or 0)
    return {"deleted": deleted, "before": cutoff}


def _purge_dead_letters(ctx: JobContext, days: float) -> dict[str, Any]:
    from quantdesk.jobs.clock import wall_ms

    cutoff = wall_ms() - int(days * DAY_MS)
    with ctx.env.engine.begin() as conn:
        res = conn.execute(_DEAD.delete().where(_DEAD.c.time < _bound(conn, cutoff)))
    return {"deleted": int(res.rowcount or 0), "before": cutoff}


def _purge_ticks(ctx: JobContext, days: float) -> dict[str, Any]:
    root = Path(ctx.settings.data_dir) / "ticks"
    # the capture names days in UTC; a day folder goes once all of it is older than the cut-off
    cutoff = dt.datetime.fromtimestamp((ctx.now_ms - int(days * DAY_MS)) / 1000, dt.UTC).date()
    removed: list[str] = []
    for kind in ("trades", "books"):
        folder = root / kind
        if not folder.is_dir():
            continue
        for day_dir in sorted(folder.glob("date=*")):
            try:
                day = dt.date.fromisoformat(day_dir.name.removeprefix("date="))
            except ValueError:
                continue
            if day < cutoff:
                shutil.rmtree(day_dir)
                removed.append(f"{kind}/{day_dir.name}")
    return {"deleted_days": len(removed), "before": str(cutoff), "folders": removed[:20]}


def _purge_runs(ctx: JobContext, days: float) -> dict[str, Any]:
    cutoff = ctx.now_ms - int(days * DAY_MS)
    return {"deleted": ctx.runs.purge_runs(cutoff), "before": cutoff}


def _purge_models(ctx: JobContext, keep: float) -> dict[str, Any]:
    from quantdesk.jobs.services import resolve

    pruner = resolve(ctx, "model_versions")
    return {"deleted": int(pruner.prune_unaliased(int(keep), ctx.now_ms)), "kept_newest": int(keep)}


POLICIES: Final[tuple[RetentionPolicy, ...]] = (
    RetentionPolicy(
        "factor_values", "retention_factor_days", "days", "factor values", _purge_factors
    ),
    RetentionPolicy(
        "dead_letters", "retention_dead_letter_days", "days", "dead letters", _purge_dead_letters
    ),
    RetentionPolicy("ticks", "retention_tick_days", "days", "captured ticks", _purge_ticks),
    RetentionPolicy("job_runs", "retention_job_run_days", "days", "job runs", _purge_runs),
    RetentionPolicy(
        "model_versions",
        "retention_model_versions",
        "versions",
        "unaliased model versions",
        _purge_models,
    ),
)


def purge(ctx: JobContext) -> dict[str, Any]:
    """Apply every policy; one policy's failure is recorded and the others still run.

    Returns ``{policy: result}``; a result has ``deleted`` (or ``skipped``/``error``).
    """
    results: dict[str, Any] = {}
    failed: list[str] = []
    for policy in POLICIES:
        keep = float(getattr(ctx.settings, policy.setting))
        if keep <= 0:
            results[policy.name] = {"skipped": f"{policy.setting} = 0: kept forever"}
            continue
        try:
            results[policy.name] = {"keep": f"{keep:g} {policy.unit}", **policy.apply(ctx, keep)}
        except JobSkipped as exc:
            results[policy.name] = {"skipped": str(exc)}
        except Exception as exc:
            results[policy.name] = {"error": f"{type(exc).__name__}: {exc}"}
            failed.append(policy.name)
    if failed:
        results["failed"] = failed
    return results
