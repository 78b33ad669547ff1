"""``cleanup`` (monthly): the data-retention policy per table (:mod:`quantdesk.jobs.retention`).

Each policy runs on its own; one that fails is named in the run's outputs and
fails the run after the others have run (a failed purge is worth seeing).
"""

from __future__ import annotations

from typing import ClassVar

from quantdesk.errors import StorageError
from quantdesk.jobs.base import Job, JobContext
from quantdesk.jobs.retention import POLICIES, purge


class Cleanup(Job):
    name: ClassVar[str] = "cleanup"
    title: ClassVar[str] = "data retention: old factors, dead letters, ticks, runs, model versions"
    schedule: ClassVar[str] = "cron:0 20 1 * *"
    order: ClassVar[int] = 90

    def run(self, ctx: JobContext) -> None:
        ctx.inputs["policies"] = {
            p.name: f"{getattr(ctx.settings, p.setting):g} {p.unit}" for p in POLICIES
        }
        results = purge(ctx)
        failed = results.pop("failed", [])
        ctx.outputs.update(results)
        if failed:
            errors = "; ".join(f"{n}: {results[n]['error']}" for n in failed)
            raise StorageError(f"retention failed for {errors}")
