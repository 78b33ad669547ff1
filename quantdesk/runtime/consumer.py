"""A stream consumer: one member of the processing group (embedded or Kafka worker).

It polls the ``trades`` and ``quotes`` topics, runs every message through
a :class:`~quantdesk.runtime.pipeline.StreamProcessor`, publishes what comes
out on the output topics (:func:`quantdesk.runtime.outputs.publish_output`:
bars, factors, signals, tweets, dead letters; that is how it reaches the
API), writes it to the store (idempotent upserts), and checkpoints. With a
:class:`~quantdesk.runtime.control.ControlListener` it applies the control
messages (signal-rule changes) waiting before each poll.

**Exactly-once results from at-least-once delivery.** Every
``checkpoint_seconds`` (and before its partitions are taken away) the
consumer stores, per owned partition, the operator state of that partition's
symbols together with the offset it covers (``stream_checkpoints``), and only
then commits the offsets to the bus. Whoever owns a partition next restores
that state and skips every message up to the checkpointed offset, so a worker
killed with SIGKILL loses nothing and counts nothing twice: the messages
after its last checkpoint are processed again from the same state, and the
same bars are upserted over whatever it had written.

The checkpoint holds the operator state as data (tagged JSON, see
:mod:`quantdesk.storage.checkpoints`), never a pickle: a database writable by
someone else cannot make a worker run code. A pickled checkpoint of an
earlier release is not loaded (the store logs one line); that partition
starts afresh from the retained messages (bar writes are idempotent upserts).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable

from quantdesk.bus import Bus, Partition, Subscription
from quantdesk.runtime.control import ControlListener
from quantdesk.runtime.outputs import publish_output
from quantdesk.runtime.pipeline import Output, StreamProcessor
from quantdesk.runtime.sink import StoreSink
from quantdesk.stream.warmup import warm_up

log = logging.getLogger("quantdesk.consumer")

PublishFilter = Callable[[Output], Output]


class StreamConsumer:
    """Poll -> process -> sink -> publish -> checkpoint -> commit."""

    def __init__(
        self,
        bus: Bus,
        processor: StreamProcessor,
        sink: StoreSink,
        *,
        group: str = "quantdesk-stream",
        checkpoint_seconds: float | None = 1.0,
        publish: bool = True,
        echo: Callable[[str], None] | None = None,
        control: ControlListener | None = None,
    ) -> None:
        self.bus = bus
        self.control = control
        self.processor = processor
        self.sink = sink
        self.group = group
        #: None: no checkpoints (an in-process bus starts empty, its offsets mean nothing later)
        self.checkpoint_seconds = checkpoint_seconds
        self.publish = publish
        self.echo = echo
        self.messages = 0
        #: (topic, partition) -> the last offset whose effects the state holds
        self._done: dict[tuple[str, int], int] = {}
        self._symbols: dict[tuple[str, int], set[str]] = defaultdict(set)
        self._last_checkpoint = time.monotonic()
        topics = [bus.topics.trades, bus.topics.quotes]
        self.subscription: Subscription = bus.subscribe(
            topics, group, on_assign=self._on_assign, on_revoke=self._on_revoke
        )

    # -- rebalancing ------------------------------------------------------------

    def _on_assign(self, partitions: list[Partition]) -> None:
        if self.echo is not None and partitions:
            names = ", ".join(f"{p.topic}[{p.partition}]" for p in partitions)
            self.echo(f"assigned {names}")
        if self.checkpoint_seconds is None:
            return
        for p in partitions:
            saved = self.sink.store.load_checkpoint(self.group, p.topic, p.partition)
            if saved is None:
                continue
            offset, state = saved
            if offset <= self._done.get((p.topic, p.partition), -1):
                continue  # our own state is at least as new
            self.processor.restore(state["processor"])
            self._symbols[(p.topic, p.partition)] = set(state["symbols"])
            self._done[(p.topic, p.partition)] = offset
            log.info("restored %s[%d] at offset %d", p.topic, p.partition, offset)
        if partitions:  # symbols without a checkpoint start warm, from stored bars
            proc = self.processor
            symbols = proc.validator.symbols or ()
            warm_up(proc.indicators, proc.signals, self.sink.store, symbols)

    def _on_revoke(self, partitions: list[Partition]) -> None:
        if self.echo is not None and partitions:
            self.echo(f"revoked {len(partitions)} partition(s)")
        self.checkpoint(partitions)
        self.subscription.commit()

    # -- the loop ---------------------------------------------------------------

    def poll_once(self, max_messages: int = 2_000, timeout: float = 0.2) -> int:
        """Process one poll's worth of messages; return how many were new."""
        messages = self.subscription.poll(max_messages, timeout)
        if self.control is not None:  # after the wait: the batch runs with the newest rules
            self.control.poll()
        out = Output()
        new = 0
        for m in messages:
            key = (m.topic, m.partition)
            if m.offset <= self._done.get(key, -1):
                continue  # already in the restored state
            self.processor.handle(m.topic, m.value, out)
            self._done[key] = m.offset
            if m.key is not None:
                self._symbols[key].add(m.key)
            new += 1
        self.messages += new
        self.emit(out)
        if self.checkpoint_seconds is None:
            self.subscription.commit()  # the store holds the results; nothing to replay
        elif time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds:
            self.checkpoint()
            self.subscription.commit()
        return new

    def emit(self, out: Output) -> None:
        """Publish ``out`` on the output topics, then write it to the store.

        Published first: live clients do not wait for a store commit (SQLite
        p99 ~15 ms), and the API sends while the write runs.
        """
        if not out:
            return
        if self.publish:
            publish_output(self.bus, out)
        self.sink.write_output(out)

    def advance(self, event_time: int) -> None:
        out = Output()
        self.processor.advance(event_time, out)
        self.emit(out)

    def checkpoint(self, partitions: list[Partition] | None = None) -> None:
        """Store the state and offset of each (given, default owned) partition."""
        if self.checkpoint_seconds is None:
            return
        owned = partitions if partitions is not None else self.subscription.assignment()
        for p in owned:
            key = (p.topic, p.partition)
            if key not in self._done:
                continue
            symbols = sorted(self._symbols.get(key, ()))
            state = {"processor": self.processor.snapshot(symbols), "symbols": symbols}
            self.sink.store.save_checkpoint(
                self.group, p.topic, p.partition, self._done[key], state
            )
        self._last_checkpoint = time.monotonic()

    def close(self, *, final_checkpoint: bool = True) -> None:
        if final_checkpoint:
            self.checkpoint()
            self.subscription.commit()
        self.subscription.close()
        if self.control is not None:
            self.control.close()
