"""``GET /api/logs``: search the log file and this server's recent records (admin)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from quantdesk.api.logbook import LEVELS, LogBook, search
from quantdesk.api.routers.klines import MAX_LIMIT
from quantdesk.api.routers.stream import End, Start, time_range
from quantdesk.api.security import Admin
from quantdesk.errors import DataError

router = APIRouter(tags=["system"])


def _stamp(ms: int | None) -> str | None:
    if ms is None:
        return None
    try:
        t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return "0000" if ms < 0 else "9999"
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@router.get("/api/logs")
def logs(
    request: Request,
    user: Admin,
    q: Annotated[str, Query(max_length=200, description="text in the message or logger")] = "",
    level: Annotated[str, Query(description="minimum level: " + ", ".join(LEVELS))] = "INFO",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 200,
    start: Start = None,
    end: End = None,
) -> list[dict[str, Any]]:
    """The newest ``limit`` matching records, oldest first, from the log file
    (``QUANTDESK_LOG_FILE`` and its rotated copies: every command of this data dir)
    and this process's recent records (the newest 5,000 at INFO and above).
    Admin only: logs can name users and addresses."""
    book: LogBook = request.app.state.logbook
    s, e = time_range(start, end)
    try:
        records = search(
            book,
            request.app.state.settings.resolved_log_file,
            q,
            level,
            limit,
            _stamp(s),
            _stamp(e),
        )
    except ValueError as exc:
        raise DataError(str(exc)) from None
    return [r.data() for r in records]
