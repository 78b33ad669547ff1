"""Trading changes on the bus: an API apart from the process that trades.

When the API runs in another process than the paper account (``quantdesk
serve``, or ``serve --workers N`` beside ``quantdesk run``), an admin's order,
cancel, risk limits and trading state travel as control messages
(:class:`~quantdesk.bus.codec.Control` on the ``control`` topic, like signal
rule changes; :mod:`quantdesk.runtime.control`):

==========  ===========  ==================================================================
target      action       what the process that trades does
==========  ===========  ==================================================================
``order``   ``submit``   :meth:`TradingDesk.place` with the request in ``body`` (its
                         ``client_order_id`` is the message id); bad input is stored as a
                         ``rejected`` order with the reason, so the API can answer it
``order``   ``cancel``   :meth:`TradingDesk.cancel` of the order ``id``
``risk``    ``limits``   the limits in ``body`` (the API stored them already)
``risk``    ``state``    the state in ``body`` (stored already too)
==========  ===========  ==================================================================

The API waits for the order to appear in the store under its client order id
(the journal is the answer). A submit carries a deadline (``body.deadline``,
epoch ms wall time): one that arrives later, when the API has answered that
nothing trades, is dropped, so an order is never placed behind a person's back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from quantdesk.bus.codec import Control
from quantdesk.domain.trading import OrderType, Side, TimeInForce, TradingState
from quantdesk.errors import ConfigError, OrderRejected, QuantdeskError
from quantdesk.trading.orders import OrderRequest

if TYPE_CHECKING:
    from quantdesk.trading.desk import TradingDesk

__all__ = [
    "ORDER",
    "RISK",
    "cancel_control",
    "desk_handlers",
    "limits_control",
    "order_control",
    "request_from",
    "state_control",
]

log = logging.getLogger("quantdesk.trading.remote")

ORDER: Final = "order"
RISK: Final = "risk"


def _now() -> int:
    return int(time.time() * 1000)


def order_control(request: OrderRequest, user: str, deadline_ms: int) -> Control:
    body = {
        "symbol": request.symbol,
        "side": request.side.value,
        "quantity": request.quantity,
        "type": request.type.value,
        "limit_price": None if request.limit_price is None else str(request.limit_price),
        "time_in_force": request.time_in_force.value,
        "deadline": deadline_ms,
    }
    return Control(ORDER, request.client_order_id, "submit", body, _now(), user)


def cancel_control(order_id: str, user: str) -> Control:
    return Control(ORDER, order_id, "cancel", None, _now(), user)


def limits_control(limits: dict[str, Any], user: str) -> Control:
    return Control(RISK, "limits", "limits", limits, _now(), user)


def state_control(state: TradingState, reason: str, user: str) -> Control:
    return Control(RISK, "state", "state", {"state": state.value, "reason": reason}, _now(), user)


def request_from(control: Control) -> OrderRequest:
    """The order request of a ``submit`` message (ConfigError when it is malformed)."""
    b = control.body or {}
    try:
        limit = b.get("limit_price")
        return OrderRequest(
            symbol=str(b["symbol"]),
            side=Side(b["side"]),
            quantity=int(b["quantity"]),
            type=OrderType(b.get("type", "market")),
            limit_price=None if limit is None else Decimal(str(limit)),
            time_in_force=TimeInForce(b.get("time_in_force", "day")),
            client_order_id=control.id,
        )
    except (KeyError, ValueError, ArithmeticError, TypeError) as exc:
        raise ConfigError(f"order control {control.id!r}: malformed body ({exc})") from None


def desk_handlers(desk: TradingDesk) -> dict[str, Callable[[Control], bool]]:
    """Control handlers for the process that trades (``ControlListener.handlers``)."""

    def order(c: Control) -> bool:
        if c.action == "submit":
            deadline = int((c.body or {}).get("deadline") or 0)
            if deadline and _now() > deadline:
                log.warning("order %s from %s came after its deadline: dropped", c.id, c.origin)
                return False
            req = request_from(c)
            try:
                desk.place(req, c.origin)
            except OrderRejected as exc:
                desk.reject(req, exc.reason, c.origin)
            return True
        if c.action == "cancel":
            try:
                desk.cancel(c.id, c.origin)
            except QuantdeskError as exc:
                log.warning("cancel %s from %s: %s", c.id, c.origin, exc)
                return False
            return True
        raise ConfigError(f"order control: unknown action {c.action!r}")

    def risk(c: Control) -> bool:
        body = c.body or {}
        if c.action == "limits":
            desk.set_limits(body, c.origin)
            return True
        if c.action == "state":
            try:
                state = TradingState(str(body.get("state")))
            except ValueError:
                raise ConfigError(f"risk control: unknown state {body.get('state')!r}") from None
            desk.set_state(state, c.origin, str(body.get("reason") or ""))
            return True
        raise ConfigError(f"risk control: unknown action {c.action!r}")

    return {ORDER: order, RISK: risk}
