"""``/api/signal-rules``: list, create, replace and delete live signal rules (admin)."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from quantdesk.api.auditing import caller_detail, client_of
from quantdesk.api.routers.symbols import resolve
from quantdesk.api.rules import RuleBook
from quantdesk.api.security import Admin, current_user
from quantdesk.auth import Principal
from quantdesk.stream.signals import RULE_ID_PATTERN, SignalRule

router = APIRouter(tags=["signals"], dependencies=[Depends(current_user)])

RuleId = Annotated[str, Path(min_length=1, max_length=64, pattern=RULE_ID_PATTERN)]


class RuleBody(BaseModel):
    """A rule as JSON; see :mod:`quantdesk.stream.signals` for the two threshold forms."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"factor": "obi", "symbol": "AAPL", "buy_above": 0.6, "sell_below": -0.6}
        },
    )

    id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=RULE_ID_PATTERN,
        description="default: generated; letters, digits, '_', '-', '.' (no '..')",
    )
    factor: str = Field(min_length=1, max_length=64)
    symbol: str | None = Field(None, min_length=1, max_length=32, description="null/'*' = all")
    interval: str | None = Field(None, min_length=1, max_length=8)
    buy_above: float | None = None
    sell_below: float | None = None
    buy_below: float | None = None
    sell_above: float | None = None
    cooldown_ms: int = Field(0, ge=0, le=366 * 86_400_000)
    enabled: bool = True

    def rule(self, rule_id: str) -> SignalRule:
        data = self.model_dump(exclude={"id"})
        return SignalRule(id=rule_id, **data)


def _generated_id(body: RuleBody) -> str:
    """``<factor>-<symbol or all>-<6 hex>``, with anything outside the id pattern as ``_``."""
    symbol = body.symbol if body.symbol and body.symbol != "*" else "all"
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{body.factor}-{symbol}").replace("..", "_")
    return f"{stem.lstrip('.-')[:55]}-{secrets.token_hex(3)}"


def _resolved(request: Request, body: RuleBody) -> RuleBody:
    """The body with its symbol as stored (``600036`` -> ``600036.SH``); unknown: 404."""
    if body.symbol is None or body.symbol == "*":
        return body
    return body.model_copy(update={"symbol": resolve(request, body.symbol)})


def _who(request: Request, user: Principal) -> tuple[str, dict[str, Any]]:
    """(client address, audit detail) of a rule change."""
    return client_of(request), caller_detail(user)


def _book(request: Request) -> RuleBook:
    book: RuleBook = request.app.state.rules
    return book


@router.get("/api/signal-rules")
def list_rules(request: Request) -> list[dict[str, Any]]:
    """The rules the live engine applies."""
    return [r.to_dict() for r in _book(request).list()]


@router.get("/api/signal-rules/{rule_id}")
def get_rule(request: Request, rule_id: RuleId) -> dict[str, Any]:
    return _book(request).get(rule_id).to_dict()


@router.post("/api/signal-rules", status_code=201)
def create_rule(request: Request, body: RuleBody, user: Admin) -> dict[str, Any]:
    """Add a rule (admin); 409 when the id exists. Takes effect on the next factor value."""
    book = _book(request)
    body = _resolved(request, body)
    rule_id = body.id or _generated_id(body)
    if book.exists(rule_id):
        raise HTTPException(409, f"signal rule {rule_id!r} exists: use PUT to change it")
    return book.add(body.rule(rule_id), user.username, *_who(request, user)).to_dict()


@router.put("/api/signal-rules/{rule_id}")
def replace_rule(request: Request, rule_id: RuleId, body: RuleBody, user: Admin) -> dict[str, Any]:
    """Replace a rule (admin); 404 when missing. A body ``id`` must match the path."""
    if body.id is not None and body.id != rule_id:
        raise HTTPException(400, f"id: body says {body.id!r} but the path says {rule_id!r}")
    book = _book(request)
    book.get(rule_id)  # 404 first
    body = _resolved(request, body)
    return book.update(body.rule(rule_id), user.username, *_who(request, user)).to_dict()


@router.delete("/api/signal-rules/{rule_id}", status_code=204, response_class=Response)
def delete_rule(request: Request, rule_id: RuleId, user: Admin) -> Response:
    """Remove a rule (admin); 404 when missing."""
    _book(request).remove(rule_id, user.username, *_who(request, user))
    return Response(status_code=204)
