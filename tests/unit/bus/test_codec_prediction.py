"""The ``prediction`` message: JSON on topic ``predictions``, forwarded by the hub."""

from __future__ import annotations

import orjson
import pytest

from quantdesk.api.hub import CHANNELS, convert
from quantdesk.bus import MessageError, Topics, decode, encode
from quantdesk.bus.codec import message_key
from quantdesk.domain import Prediction

P = Prediction(
    symbol="600036.SH",
    target_day="2026-12-08",
    model="lstm",
    version=3,
    alias="champion",
    made_at=1_795_138_200_000,
    predicted_open=None,
    predicted_close=35.2,
    predicted_return=0.0071,
    reference=34.95,
)


def test_round_trip_topic_and_key() -> None:
    raw = encode(P)
    doc = orjson.loads(raw)
    assert doc["v"] == 1 and doc["type"] == "prediction" and doc["predicted_open"] is None
    assert decode(raw) == P
    assert Topics().for_type("prediction") == "quantdesk.predictions"
    assert message_key(P) == "600036.SH"


def test_the_hub_forwards_it_to_ai_predictions() -> None:
    converted = convert(encode(P))
    assert converted is not None
    kind, text, symbols, _, _ = converted
    assert kind == "prediction" and "prediction" in CHANNELS["ai-predictions"]
    data = orjson.loads(text)["data"]
    assert data["alias"] == "champion" and data["target_day"] == "2026-12-08"
    assert symbols == "600036.SH"


def test_a_bad_prediction_is_one_error() -> None:
    doc = orjson.loads(encode(P))
    doc["version"] = "three"
    with pytest.raises(MessageError) as exc:
        decode(orjson.dumps(doc))
    assert exc.value.reason == "bad_type"
