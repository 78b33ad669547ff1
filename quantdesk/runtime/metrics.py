"""Prometheus metrics of a ``quantdesk worker`` (the API process has ``/metrics``).

A worker serves no HTTP API, so with ``QUANTDESK_WORKER_METRICS_PORT`` set it
starts prometheus-client's own small HTTP server (a daemon thread) on that
port: ``GET /metrics`` there answers what :class:`WorkerCollector` reads at
scrape time. The pipeline counters carry the same names as the API process's
(``quantdesk_trades_total``, ``quantdesk_bars_written_total``,
``quantdesk_bars_closed_total``, ``quantdesk_rejects_total{reason}``), so one
query sums them over every process; Prometheus adds ``job`` and ``instance``
to tell the processes apart. Worker-only series:

=====================================  =======  =============================================
metric                                 type     meaning
=====================================  =======  =============================================
``quantdesk_stream_messages_total``    counter  bus messages processed (after a restore's skip)
``quantdesk_stream_partitions``        gauge    partitions this member owns
``quantdesk_stream_lag_messages``      gauge    messages not yet polled, per ``topic`` and
                                                ``partition`` (Kafka's cached high watermark)
``quantdesk_stream_event_time_seconds``  gauge  the newest event time processed (epoch s)
=====================================  =======  =============================================

The collector only reads plain counters of the consumer (copies of dicts are
atomic under the GIL); the lag is refreshed by the worker loop (the Kafka
consumer belongs to that thread), at most once a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from quantdesk.errors import ConfigError

if TYPE_CHECKING:
    from quantdesk.bus import Partition
    from quantdesk.runtime.consumer import StreamConsumer

LAG_EVERY_SECONDS = 1.0


class WorkerCollector(Collector):
    """The figures of one :class:`~quantdesk.runtime.consumer.StreamConsumer`."""

    def __init__(self, consumer: StreamConsumer) -> None:
        self.consumer = consumer
        self.lag: dict[Partition, int] = {}
        self._lag_at = 0.0

    def refresh_lag(self, *, force: bool = False) -> None:
        """Ask the subscription for its lag (call from the thread that polls)."""
        now = time.monotonic()
        if force or now - self._lag_at >= LAG_EVERY_SECONDS:
            self._lag_at = now
            self.lag = self.consumer.subscription.lag()

    def collect(self) -> Iterator[Metric]:
        consumer = self.consumer
        processor = consumer.processor
        yield _counter("quantdesk_trades", "Trades accepted by the stream processor",
                       processor.trades_in)  # fmt: skip
        yield _counter(
            "quantdesk_bars_written", "Bars upserted into the store", consumer.sink.bars_written
        )
        yield _counter("quantdesk_bars_closed", "Final bars produced", consumer.sink.final_bars)
        rejects = CounterMetricFamily(
            "quantdesk_rejects", "Rejected messages by reason (live)", labels=["reason"]
        )
        for reason, n in sorted(dict(processor.rejects).items()):
            rejects.add_metric([reason], n)
        yield rejects
        yield _counter(
            "quantdesk_stream_messages", "Bus messages processed by this member", consumer.messages
        )
        yield GaugeMetricFamily(
            "quantdesk_stream_partitions",
            "Partitions this member owns",
            value=len(consumer.subscription.assignment()),
        )
        lag = GaugeMetricFamily(
            "quantdesk_stream_lag_messages",
            "Messages not yet polled per owned partition",
            labels=["topic", "partition"],
        )
        for part, n in sorted(dict(self.lag).items()):
            lag.add_metric([part.topic, str(part.partition)], n)
        yield lag
        watermark = processor.bars.watermark
        if watermark > 0:
            yield GaugeMetricFamily(
                "quantdesk_stream_event_time_seconds",
                "Newest event time processed (epoch seconds)",
                value=watermark / 1000,
            )


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def serve_worker_metrics(consumer: StreamConsumer, host: str, port: int) -> tuple[Any, Any]:
    """Serve the worker's metrics on ``host:port``; returns (server, collector).

    Call ``server.shutdown()`` to stop it. A port in use is one clear error.
    """
    registry = CollectorRegistry(auto_describe=False)
    collector = WorkerCollector(consumer)
    registry.register(collector)
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"QUANTDESK_WORKER_METRICS_PORT: cannot listen on {host}:{port} ({exc.strerror})"
        ) from None
    return server, collector
