"""Orders, fills and risk alerts on the bus: exact round trips, clear errors."""

from __future__ import annotations

from decimal import Decimal as D

import orjson
import pytest

from quantdesk.bus import codec
from quantdesk.bus.base import Topics
from quantdesk.domain.trading import (
    AlertKind,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    RiskAlert,
    Side,
    TimeInForce,
    TradingState,
)

ORDER = Order(
    "o1",
    "c1",
    "600000.SH",
    Side.BUY,
    OrderType.LIMIT,
    1000,
    D("10.01"),
    TimeInForce.GTC,
    OrderStatus.PARTIALLY_FILLED,
    "",
    1,
    2,
    300,
    D("3003.00"),
    D("5.00"),
)
FILL = Fill(
    "o1-1", "o1", 2, "600000.SH", Side.SELL, 300, D("10.01"), D("5.00"), D("1.50"), D("0.03")
)
ALERT = RiskAlert(
    "a1", 3, AlertKind.DENIED, "order denied: cash", "600000.SH", "o2", TradingState.REDUCING
)


@pytest.mark.parametrize("obj", [ORDER, FILL, ALERT])
def test_round_trip(obj: object) -> None:
    raw = codec.encode(obj)  # type: ignore[arg-type]
    assert codec.decode(raw) == obj
    doc = orjson.loads(raw)
    assert doc["v"] == 1 and doc["type"] in ("order", "fill", "risk_alert")


def test_wire_shape_and_topics() -> None:
    doc = orjson.loads(codec.encode(ORDER))
    assert doc["limit_price"] == 10.01 and doc["side"] == "buy" and doc["order_type"] == "limit"
    topics = Topics()
    assert topics.for_type("order") == "quantdesk.orders"
    assert topics.for_type("fill") == "quantdesk.fills"
    assert topics.for_type("risk_alert") == "quantdesk.alerts"
    assert codec.message_key(FILL) == "600000.SH"
    assert codec.message_key(RiskAlert("a", 1, AlertKind.STATE, "x")) is None


def test_bad_values_are_message_errors() -> None:
    doc = orjson.loads(codec.encode(FILL))
    for field, value, reason in [
        ("side", "short", "bad_type"),
        ("price", "10", "bad_type"),
        ("quantity", 1.5, "bad_type"),
    ]:
        bad = dict(doc, **{field: value})
        with pytest.raises(codec.MessageError) as err:
            codec.decode(orjson.dumps(bad))
        assert err.value.reason == reason and err.value.field == field
    missing = {k: v for k, v in doc.items() if k != "commission"}
    with pytest.raises(codec.MessageError, match="missing_field"):
        codec.decode(orjson.dumps(missing))
