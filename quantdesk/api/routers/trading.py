"""``/api/v2/trading``: the paper account, its orders and fills; orders placed by an admin
(or an API key with scope ``trade``).

Bad input answers 422 with one line and stores nothing (malformed body, zero,
negative or non-lot quantity, unknown or untradable symbol, no price yet, a
limit price off the tick or outside the day's limits, a sell beyond the
sellable quantity). An order the risk engine denies (trading halted or
reducing, order value, orders per minute, position weight, gross exposure,
cash) is stored with its reason and answers 409; one the broker rejects is
stored and answers 422. An accepted order answers 201 with its ``id`` and
``status`` (``accepted``, ``partially_filled`` or ``filled``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from quantdesk.api.routers.klines import MAX_LIMIT
from quantdesk.api.routers.stream import End, Start, time_range
from quantdesk.api.security import Trader, current_user
from quantdesk.api.trading import TradingService, order_json
from quantdesk.domain.trading import OrderStatus, OrderType, Side, TimeInForce
from quantdesk.errors import NotFoundError, OrderRejected, TradingError, TradingUnavailable
from quantdesk.trading.orders import OrderRequest

router = APIRouter(tags=["trading"], dependencies=[Depends(current_user)])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="newest N in the range")]
OrderId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


def service(request: Request) -> TradingService:
    svc: TradingService = request.app.state.trading
    return svc


class OrderBody(BaseModel):
    """An order from a person (the dashboard's ticket, a script)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"symbol": "600036.SH", "side": "buy", "quantity": 100, "type": "market"}
        },
    )

    symbol: str = Field(min_length=1, max_length=32)
    side: Literal["buy", "sell"]
    quantity: int = Field(gt=0, le=10**9, description="shares (A-shares: lots of 100)")
    type: Literal["market", "limit"] = "market"
    limit_price: Decimal | None = Field(
        None, gt=0, le=10**7, max_digits=14, decimal_places=4, description="limit orders only"
    )
    time_in_force: Literal["day", "gtc", "ioc"] = "day"
    client_order_id: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"
    )

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, v: str) -> str:
        v = v.strip().upper()
        if not v:
            raise ValueError("must be a stock code, e.g. 600036.SH")
        return v

    def request(self) -> OrderRequest:
        if self.type == "limit" and self.limit_price is None:
            raise OrderRejected("limit_price: a limit order needs one")
        if self.type == "market" and self.limit_price is not None:
            raise OrderRejected("limit_price: a market order takes none")
        return OrderRequest(
            symbol=self.symbol,
            side=Side(self.side),
            quantity=self.quantity,
            type=OrderType(self.type),
            limit_price=self.limit_price,
            time_in_force=TimeInForce(self.time_in_force),
            client_order_id=self.client_order_id or "",
        )


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def _unavailable(exc: TradingUnavailable) -> HTTPException:
    return HTTPException(503, str(exc))


@router.get("/api/v2/trading/account")
def account(request: Request) -> dict[str, Any]:
    """Cash, cash frozen by open buys, market value, equity and P&L of the paper account."""
    return service(request).account()


@router.get("/api/v2/trading/positions")
def positions(request: Request) -> list[dict[str, Any]]:
    """Open positions: quantity, sellable now (T+1), cost, last price, P&L."""
    return service(request).positions()


@router.get("/api/v2/trading/orders")
def orders(
    request: Request,
    status: Annotated[Literal["all", "open"], Query(description="open: still working")] = "all",
    start: Start = None,
    end: End = None,
    limit: Limit = 200,
) -> list[dict[str, Any]]:
    """Orders created in ``[start, end)``, the newest ``limit``, oldest first."""
    s, e = time_range(start, end)
    return service(request).orders(status == "open", s, e, limit)


@router.get("/api/v2/trading/orders/{order_id}")
def get_order(request: Request, order_id: OrderId) -> dict[str, Any]:
    return service(request).order(order_id)


@router.get("/api/v2/trading/fills")
def fills(
    request: Request, start: Start = None, end: End = None, limit: Limit = 200
) -> list[dict[str, Any]]:
    """Fills in ``[start, end)``, the newest ``limit``, oldest first."""
    s, e = time_range(start, end)
    return service(request).fills(s, e, limit)


@router.get("/api/v2/trading/equity")
def equity(
    request: Request, start: Start = None, end: End = None, limit: Limit = 1000
) -> list[dict[str, Any]]:
    """The live account's equity and cash at each step of the strategy's bars."""
    s, e = time_range(start, end)
    return service(request).equity(s, e, limit)


@router.post("/api/v2/trading/orders", status_code=201, response_model=None)
def place_order(request: Request, body: OrderBody, user: Trader) -> dict[str, Any] | JSONResponse:
    """Place an order (an admin, or an API key with scope trade) through the risk engine;
    see the module docstring for the answers."""
    try:
        order = service(request).place(body.request(), user.username, _client(request))
    except TradingUnavailable as exc:
        raise _unavailable(exc) from None
    except OrderRejected as exc:
        raise HTTPException(422, str(exc)) from None
    if order.status is OrderStatus.DENIED:
        raise HTTPException(409, order.reason)
    if order.status is OrderStatus.REJECTED:
        raise HTTPException(422, order.reason)
    return order_json(order)


@router.delete("/api/v2/trading/orders/{order_id}")
def cancel_order(request: Request, order_id: OrderId, user: Trader) -> dict[str, Any]:
    """Cancel an open order (admin or scope trade): 404 when unknown, 409 when not open."""
    try:
        return order_json(service(request).cancel(order_id, user.username, _client(request)))
    except TradingUnavailable as exc:
        raise _unavailable(exc) from None
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except TradingError as exc:
        raise HTTPException(409, str(exc)) from None
