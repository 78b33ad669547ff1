"""Prometheus metrics: one registry per app, live figures read at scrape time.

A pure ASGI middleware times every HTTP request into a histogram labelled by
route template (``/api/klines``, ``/api/v2/stocks/{symbol}/historical``), so
label cardinality stays bounded whatever the paths asked for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quantdesk.api.context import RuntimeCounters, RuntimeInfo
from quantdesk.api.hub import Hub
from quantdesk.storage.engines import sqlite_memory_used

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class LiveCollector(Collector):
    """Pipeline and hub figures, read when Prometheus scrapes."""

    def __init__(self, app_state: Any) -> None:
        self.state = app_state

    def collect(self) -> Iterator[Metric]:
        figures = live_figures(self.state)
        yield _counter("quantdesk_trades", "Trades accepted by the stream processor", figures)
        yield _counter("quantdesk_bars_written", "Bars upserted into the store", figures)
        yield _counter("quantdesk_bars_closed", "Final bars produced", figures)
        rejects = CounterMetricFamily(
            "quantdesk_rejects", "Rejected messages by reason (live)", labels=["reason"]
        )
        for reason, n in sorted(figures["rejects"].items()):
            rejects.add_metric([reason], n)
        yield rejects
        if figures.get("event_lag_s") is not None:
            yield GaugeMetricFamily(
                "quantdesk_bus_lag_seconds",
                "How far processed event time trails the market clock",
                value=figures["event_lag_s"],
            )
        clients = GaugeMetricFamily(
            "quantdesk_ws_clients", "Connected WebSocket clients", labels=["channel"]
        )
        for channel, n in figures["ws_clients"].items():
            clients.add_metric([channel], n)
        yield clients
        yield _counter("quantdesk_ws_dropped_messages", "Messages dropped (slow clients)", figures)
        yield _counter("quantdesk_ws_messages", "Messages fanned out to clients", figures)
        if figures.get("sqlite_memory_bytes") is not None:
            yield GaugeMetricFamily(
                "quantdesk_sqlite_memory_bytes",
                "Memory SQLite holds in this process (page caches, statements)",
                value=figures["sqlite_memory_bytes"],
            )
        yield _counter(
            "quantdesk_klines_cache_hits", "/api/klines answers served from the cache", figures
        )
        yield _counter(
            "quantdesk_klines_cache_misses", "/api/klines newest-bars queries run", figures
        )


def _counter(name: str, doc: str, figures: dict[str, Any]) -> CounterMetricFamily:
    key = name.removeprefix("quantdesk_")
    return CounterMetricFamily(name, doc, value=figures.get(key, 0))


def live_figures(state: Any) -> dict[str, Any]:
    """The live counters as plain data (also ``/api/v2/system/metrics``)."""
    hub: Hub = state.hub
    runtime: RuntimeInfo | None = getattr(state, "runtime", None)
    counters = runtime.counters() if runtime is not None else RuntimeCounters()
    figures: dict[str, Any] = {
        "trades": counters.trades,
        "bars_written": counters.bars_written,
        "bars_closed": hub.bars_closed,
        "rejects": dict(counters.rejects),
        "ws_clients": hub.counts(),
        "ws_dropped_messages": hub.drops,
        "ws_messages": hub.published,
        "event_lag_s": counters.event_lag_s,
    }
    cache = getattr(state, "klines_cache", None)
    figures["klines_cache_hits"] = int(getattr(cache, "hits", 0))
    figures["klines_cache_misses"] = int(getattr(cache, "misses", 0))
    figures["sqlite_memory_bytes"] = sqlite_memory_used()
    return figures


class Metrics:
    """The app's registry and request histogram."""

    def __init__(self, app_state: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "quantdesk_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(LiveCollector(app_state))


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): adds a few microseconds per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            key = (scope["method"], getattr(route, "path", None) or "unmatched", status[0])
            child = self._children.get(key)
            if child is None:  # labels() takes a lock and validates: once per key
                child = self.metrics.latency.labels(key[0], key[1], str(key[2]))
                self._children[key] = child
            child.observe(time.perf_counter() - t0)
