"""Job events on the bus: each run as it starts and as it ends (topic ``jobs``, type ``job``).

The scheduler calls its listeners with the stored run at its start and at its
end (:attr:`quantdesk.jobs.scheduler.Scheduler.listeners`); :func:`publisher`
turns that into a :class:`JobEvent` on the bus, which the API's WebSocket hub
forwards to ``/ws/pipeline-status`` and ``/ws/enhanced`` as::

    {"type": "job", "data": {"job": "sell", "run_id": 7, "status": "started",
     "event": "started", "trigger": "schedule", "fire": "2024-10-08T01:35:00Z", ...}}

``event`` is ``started``, ``finished`` (ok or skipped) or ``failed`` (failed or
interrupted). Times are ISO 8601 UTC (``fire``, ``started``, ``finished``) and
epoch ms (``fire_ms`` ...); ``error`` is the run's one-line error.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from quantdesk.bus.codec import field_int, field_str, register_message

if TYPE_CHECKING:
    from quantdesk.bus import Bus
    from quantdesk.storage.jobs import RunRow

__all__ = ["JobEvent", "event_of", "publisher"]

log = logging.getLogger("quantdesk.jobs")


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One change of a run: started, finished or failed."""

    job: str
    run_id: int
    event: str
    status: str
    trigger: str
    attempt: int
    fire_ms: int
    started_ms: int | None
    finished_ms: int | None
    error: str = ""


def event_of(row: RunRow) -> JobEvent:
    """The event a stored run stands for now."""
    if row.status in ("started", "queued"):
        event = "started" if row.status == "started" else "queued"
    elif row.status in ("failed", "interrupted"):
        event = "failed"
    else:
        event = "finished"
    return JobEvent(
        row.job,
        row.id,
        event,
        row.status,
        row.trigger,
        row.attempt,
        row.fire_ms,
        row.started_ms,
        row.finished_ms,
        row.error,
    )


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def _body(e: JobEvent) -> dict[str, Any]:
    return {
        "job": e.job,
        "run_id": e.run_id,
        "event": e.event,
        "status": e.status,
        "trigger": e.trigger,
        "attempt": e.attempt,
        "fire_ms": e.fire_ms,
        "started_ms": e.started_ms,
        "finished_ms": e.finished_ms,
        "fire": _iso(e.fire_ms),
        "started": _iso(e.started_ms),
        "finished": _iso(e.finished_ms),
        "error": e.error,
    }


def _optional_int(doc: dict[str, Any], name: str) -> int | None:
    return None if doc.get(name) is None else field_int(doc, name)


def _decode(doc: dict[str, Any]) -> JobEvent:
    return JobEvent(
        field_str(doc, "job"),
        field_int(doc, "run_id"),
        field_str(doc, "event"),
        field_str(doc, "status"),
        field_str(doc, "trigger"),
        field_int(doc, "attempt"),
        field_int(doc, "fire_ms"),
        _optional_int(doc, "started_ms"),
        _optional_int(doc, "finished_ms"),
        str(doc.get("error") or ""),
    )


register_message("job", JobEvent, "jobs", _body, _decode, key=lambda e: e.job)


def publisher(bus: Bus) -> Callable[[RunRow], None]:
    """A scheduler listener that publishes each run change on ``bus``."""

    def publish(row: RunRow) -> None:
        bus.send(cast(Any, event_of(row)))  # a type registered here, not in Encodable

    return publish
