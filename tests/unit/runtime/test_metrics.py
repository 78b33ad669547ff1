"""A worker's metrics port: the consumer's figures at scrape time, lag per partition."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from quantdesk.bus import TradeBatch
from quantdesk.bus.codec import encode_trades
from quantdesk.bus.memory import MemoryBus
from quantdesk.errors import ConfigError
from quantdesk.runtime.consumer import StreamConsumer
from quantdesk.runtime.metrics import serve_worker_metrics
from quantdesk.runtime.pipeline import StreamProcessor
from quantdesk.runtime.sink import StoreSink
from quantdesk.storage import open_store

T0 = 1_700_000_000_000


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_worker_metrics_follow_the_consumer(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{(tmp_path / 'q.db').as_posix()}")
    store.migrate()
    bus = MemoryBus(partitions=2)
    bus.start()
    consumer = StreamConsumer(
        bus, StreamProcessor(None, {"AAA"}), StoreSink(store), checkpoint_seconds=None
    )
    ts = T0 + np.arange(4, dtype=np.int64) * 1000
    batch = TradeBatch("AAA", ts, np.full(4, 10.0), np.ones(4), "test")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server, collector = serve_worker_metrics(consumer, "127.0.0.1", port)
    try:
        bus.publish(bus.topics.trades, "AAA", encode_trades(batch))
        bus.publish(bus.topics.trades, "AAA", b"{not json")
        consumer.poll_once(max_messages=1, timeout=0.5)  # joins, takes one message
        collector.refresh_lag(force=True)
        first = _samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
        lag = {k: v for k, v in first.items() if k[0] == "quantdesk_stream_lag_messages"}
        assert sum(lag.values()) == 1  # the bad message waits
        assert first[("quantdesk_stream_partitions", ())] == 4.0  # 2 topics x 2 partitions
        while consumer.poll_once(timeout=0.05):
            pass
        collector.refresh_lag(force=True)
        page = _samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
        assert page[("quantdesk_trades_total", ())] == 4.0
        assert page[("quantdesk_stream_messages_total", ())] == 2.0
        assert page[("quantdesk_rejects_total", (("reason", "bad_json"),))] == 1.0
        assert page[("quantdesk_bars_written_total", ())] == consumer.sink.bars_written > 0
        assert page[("quantdesk_stream_event_time_seconds", ())] == (T0 + 3000) / 1000
        assert sum(v for k, v in page.items() if k[0] == "quantdesk_stream_lag_messages") == 0
        with pytest.raises(ConfigError, match="QUANTDESK_WORKER_METRICS_PORT"):
            serve_worker_metrics(consumer, "127.0.0.1", port)  # the port is taken
    finally:
        server.shutdown()
        server.server_close()
        consumer.close(final_checkpoint=False)
        bus.close()
        store.close()
