"""``/api/v2/risk``: the risk engine's limits and state (changed by an admin) and its alerts.

``PUT /api/v2/risk/limits`` takes any subset of the limits (the others stay);
a bad name or value is a 422 with one line and changes nothing. The change
applies to the next order and is stored, so it outlives a restart.
``PUT /api/v2/risk/state`` sets ``active``, ``reducing`` (nothing that adds
exposure) or ``halted`` (cancels only); a state set by hand stays until an
admin changes it (the daily loss limit never lifts it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from quantdesk.api.routers.klines import MAX_LIMIT
from quantdesk.api.routers.trading import _client, service
from quantdesk.api.security import Admin, current_user
from quantdesk.domain.trading import TradingState
from quantdesk.errors import ConfigError, TradingUnavailable

router = APIRouter(tags=["risk"], dependencies=[Depends(current_user)])


class LimitsBody(BaseModel):
    """Limits to change (any subset); see :class:`quantdesk.risk.limits.RiskLimits`."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"max_position_weight": 0.2}}
    )

    max_order_value: Decimal | None = Field(None, ge=0, le=10**12, allow_inf_nan=False)
    max_position_weight: float | None = Field(None, gt=0, le=1)
    max_gross_exposure: float | None = Field(None, gt=0, le=10)
    max_orders_per_minute: int | None = Field(None, ge=0, le=1_000_000)
    daily_loss_limit: float | None = Field(None, gt=0, le=1)
    drawdown_alert: float | None = Field(None, gt=0, le=1)


class StateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"state": "halted"}})

    state: Literal["active", "reducing", "halted"]
    reason: str = Field("", max_length=200)


@router.get("/api/v2/risk/limits")
def get_limits(request: Request) -> dict[str, Any]:
    """The limits, the trading state, who set it, and denied orders by reason."""
    return service(request).risk()


@router.put("/api/v2/risk/limits")
def put_limits(request: Request, body: LimitsBody, user: Admin) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise HTTPException(422, "body: give at least one limit to change")
    try:
        return service(request).set_limits(changes, user.username, _client(request))
    except TradingUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None


@router.put("/api/v2/risk/state")
def put_state(request: Request, body: StateBody, user: Admin) -> dict[str, Any]:
    try:
        return service(request).set_state(
            TradingState(body.state), body.reason, user.username, _client(request)
        )
    except TradingUnavailable as exc:
        raise HTTPException(503, str(exc)) from None


@router.get("/api/v2/risk/alerts")
def alerts(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="newest N")] = 200,
) -> list[dict[str, Any]]:
    """Breaches, drawdowns, denied orders and state changes, the newest ``limit``,
    oldest first."""
    return service(request).alerts(limit)
