"""``GET /api/audit``: search the audit log (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from quantdesk.api.routers.klines import MAX_LIMIT
from quantdesk.api.routers.stream import End, Start, time_range
from quantdesk.api.security import Admin
from quantdesk.errors import DataError
from quantdesk.storage.audit import ACTION, AuditRepository

router = APIRouter(tags=["system"])


@router.get("/api/audit")
def search_audit(
    request: Request,
    admin: Admin,
    user: Annotated[str | None, Query(max_length=64, description="who (exact)")] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, description="an action and those under it: login finds login.failed"),
    ] = None,
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 200,
) -> list[dict[str, Any]]:
    """The newest ``limit`` audit records of ``[start, end)`` matching ``user`` and
    ``action``, oldest first: ``{"id", "time", "time_ms", "user", "action", "client",
    "detail"}``. ``user`` and ``detail`` can hold untrusted text (a failed login's name)."""
    if action and not ACTION.fullmatch(action):
        raise DataError(f"action: dotted lower-case words such as login.failed (got {action!r})")
    start_ms, end_ms = time_range(start, end)
    repo: AuditRepository = request.app.state.audit
    rows = repo.search(
        user=user or None, action=action or None, start_ms=start_ms, end_ms=end_ms, limit=limit
    )
    return [r.data() for r in rows]
