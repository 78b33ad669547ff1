"""Audit rows for API actions: who (the caller; its API key id when it used one) and from where."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import Request

from quantdesk.auth import Principal
from quantdesk.storage.audit import audit


def client_of(request: Request) -> str:
    """The client address (the forwarded one only from a trusted proxy, see
    ``QUANTDESK_FORWARDED_ALLOW_IPS``)."""
    return request.client.host if request.client else "?"


def caller_detail(user: Principal, detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``detail`` plus ``api_key`` (the key id) when the caller came with a key."""
    out = dict(detail or {})
    if user.key_id is not None:
        out["api_key"] = user.key_id
    return out


def audit_api(
    request: Request,
    user: Principal | str,
    action: str,
    detail: Mapping[str, Any] | None = None,
    *,
    level: int = logging.INFO,
    log_line: bool = True,
) -> bool:
    """Record ``action`` by the caller of ``request`` in the audit log (blocking: call
    from a worker thread, as FastAPI runs sync endpoints)."""
    if isinstance(user, Principal):
        name, detail = user.username, caller_detail(user, detail)
    else:
        name = user
    return audit(
        request.app.state.audit,
        action,
        user=name,
        client=client_of(request),
        detail=detail,
        level=level,
        log_line=log_line,
    )
