"""publish_output: every item of an Output on its output topic, keyed by symbol."""

from __future__ import annotations

from quantdesk.bus import DeadLetter, decode
from quantdesk.bus.memory import MemoryBus
from quantdesk.domain import Bar, FactorValue, ScoredTweet, Signal
from quantdesk.runtime.outputs import publish_output
from quantdesk.runtime.pipeline import Output
from quantdesk.storage.base import PriceRow

T0 = 1_795_138_200_000


def test_each_kind_goes_to_its_topic() -> None:
    bus = MemoryBus()
    reader = bus.tail(bus.topics.all())
    bar = Bar("A", "1m", T0, 1, 2, 0.5, 1.5, 10, 1.2, 3, "sim", True)
    factor = FactorValue("A", T0, "obi", 0.5, "")
    signal = Signal("A", T0, "obi", 0.7, "buy", "obi")
    tweet = ScoredTweet("1", T0, "$A up", ("A",), 0.5, "positive", "mocker")
    dead = DeadLetter("bad_json", "trades", b"{", "boom")
    out = Output(
        [bar], [factor], [signal], [dead], {"A": PriceRow("A", T0, 1.0, 1.0, "s")}, [tweet]
    )
    assert publish_output(bus, out) == 5
    got = {m.topic: (m.key, decode(m.value)) for m in reader.poll(100, timeout=0)}
    t = bus.topics
    assert got == {
        t.bars: ("A", bar),
        t.factors: ("A", factor),
        t.signals: ("A", signal),
        t.tweets: ("A", tweet),
        t.deadletter: (None, dead),
    }
