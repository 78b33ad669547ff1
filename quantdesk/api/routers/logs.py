"""``GET /api/logs``: search the server's recent log records (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from quantdesk.api.logbook import LEVELS, LogBook
from quantdesk.api.routers.klines import MAX_LIMIT
from quantdesk.api.security import Admin
from quantdesk.errors import DataError

router = APIRouter(tags=["system"])


@router.get("/api/logs")
def logs(
    request: Request,
    user: Admin,
    q: Annotated[str, Query(max_length=200, description="text in the message or logger")] = "",
    level: Annotated[str, Query(description="minimum level: " + ", ".join(LEVELS))] = "INFO",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 200,
) -> list[dict[str, Any]]:
    """The newest ``limit`` matching records of this process (INFO and above are kept,
    the newest 5,000), oldest first. Admin only: logs can name users and addresses."""
    book: LogBook = request.app.state.logbook
    try:
        records = book.search(q, level, limit)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    return [r.data() for r in records]
