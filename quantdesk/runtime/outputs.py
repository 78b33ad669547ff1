"""What processing publishes for serving: one function, every output topic.

:func:`publish_output` sends each item of a pipeline
:class:`~quantdesk.runtime.pipeline.Output` to its output topic (see
:class:`quantdesk.bus.base.Topics`), keyed by symbol: bars, factors, signals,
scored tweets and dead letters. Whoever runs the operators calls it with
every Output they produce (the embedded runner, the Kafka worker), before
the store write, so live clients do not wait for a commit. The API's
WebSocket hub reads these topics through the bus (:mod:`quantdesk.api.hub`);
it is the only way processing reaches serving.

New live message types (predictions, orders, fills, risk alerts, job
events) are published by their producers with ``bus.send(obj)`` once their
type is registered (:func:`quantdesk.bus.codec.register_message`); their
topics exist already, and the hub forwards them as they come.

The real-time price table (``Output.prices``) is not published: it is state
for the store, and every final or open bar already carries the last price.
"""

from __future__ import annotations

from quantdesk.bus import Bus
from quantdesk.runtime.pipeline import Output


def publish_output(bus: Bus, out: Output) -> int:
    """Publish every bar, factor, signal, tweet and dead letter of ``out``; return how many."""
    send = bus.send
    for bar in out.bars:
        send(bar)
    for factor in out.factors:
        send(factor)
    for signal in out.signals:
        send(signal)
    for tweet in out.tweets:
        send(tweet)
    for dead in out.dead:
        send(dead)
    return len(out.bars) + len(out.factors) + len(out.signals) + len(out.tweets) + len(out.dead)
