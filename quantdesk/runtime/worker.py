"""``quantdesk worker``: one more member of the stream group, over Kafka.

Start as many as there are partitions (``QUANTDESK_BUS_PARTITIONS``): Kafka
splits the symbols between the members, a new member takes partitions over
from the others, and the partitions of a member that dies (even by SIGKILL)
move to the survivors after ``QUANTDESK_KAFKA_SESSION_TIMEOUT_MS``, which
continue from its last checkpoint (see :mod:`quantdesk.runtime.consumer`).
Everything it produces goes to the output topics, where every API process
reads it; signal-rule changes reach it as control messages
(:mod:`quantdesk.runtime.control`).

With ``QUANTDESK_WORKER_METRICS_PORT`` (or ``--metrics-port``) the worker
serves Prometheus metrics on that port (:mod:`quantdesk.runtime.metrics`):
each of N scaled workers is one scrape target.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from quantdesk.bus import bus_from_settings
from quantdesk.calendars import get_calendar
from quantdesk.config import Settings
from quantdesk.errors import ConfigError
from quantdesk.runtime.consumer import StreamConsumer
from quantdesk.runtime.control import ControlListener
from quantdesk.runtime.pipeline import StreamProcessor
from quantdesk.runtime.sink import StoreSink
from quantdesk.storage import open_store
from quantdesk.stream.signals import SignalRule, merge_rules
from quantdesk.universe import universe_for

log = logging.getLogger("quantdesk.worker")

DEFAULT_GROUP = "quantdesk-stream"


def run_worker(
    settings: Settings,
    *,
    group: str = DEFAULT_GROUP,
    market: str | None = None,
    test_mode: bool = False,
    echo: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> int:
    """Consume until SIGINT/SIGTERM (or ``stop``); return the number of messages processed."""
    if settings.bus != "kafka":
        raise ConfigError(
            "QUANTDESK_BUS: `quantdesk worker` needs kafka (got memory; the in-process bus "
            "lives inside `quantdesk run`)"
        )
    market = market or settings.market
    calendar = get_calendar(market)
    symbols = {m.symbol for m in universe_for(settings, market)}
    store = open_store(settings.resolved_database_url)
    store.migrate()
    bus = bus_from_settings(settings, session_timeout_ms=settings.kafka_session_timeout_ms)
    bus.start()

    def stored_rules() -> list[SignalRule]:
        return merge_rules(settings.signal_rules, store.load_signal_rules())

    processor = StreamProcessor(None if test_mode else calendar, symbols, rules=stored_rules())
    control = ControlListener(
        bus, processor.signals, stored_rules, echo=lambda msg: echo(f"worker: {msg}")
    )
    consumer = StreamConsumer(
        bus,
        processor,
        StoreSink(store),
        group=group,
        checkpoint_seconds=settings.checkpoint_seconds,
        echo=lambda msg: echo(f"worker: {msg}"),
        control=control,
    )
    metrics_server = collector = None
    if settings.worker_metrics_port:
        from quantdesk.runtime.metrics import serve_worker_metrics

        try:
            metrics_server, collector = serve_worker_metrics(
                consumer, settings.worker_metrics_host, settings.worker_metrics_port
            )
        except Exception:
            consumer.close(final_checkpoint=False)
            bus.close()
            store.close()
            raise
        echo(
            f"worker: metrics on http://{settings.worker_metrics_host}:"
            f"{settings.worker_metrics_port}/metrics"
        )
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    echo(f"worker: group {group}, {len(symbols)} {market} symbols, bus {settings.kafka_bootstrap}")
    try:
        while not stop.is_set():
            consumer.poll_once(timeout=0.2)
            if collector is not None:
                collector.refresh_lag()
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        consumer.close()
        bus.close()
        store.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    rejects = ", ".join(f"{k} {v}" for k, v in sorted(processor.rejects.items())) or "none"
    echo(
        f"worker: stopped after {consumer.messages:,} messages, {processor.trades_in:,} trades; "
        f"rejected: {rejects}"
    )
    return consumer.messages
