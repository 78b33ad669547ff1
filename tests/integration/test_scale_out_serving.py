"""The bus as the only seam, for real: two `quantdesk worker` processes and
`quantdesk serve --workers 2` over a Kafka-protocol broker (Tansu) and PostgreSQL.

The test publishes market messages (trades, and order-book snapshots whose
imbalance alternates between +0.5 and -0.5 every 100 ms) for ten symbols in
event time = wall time (the workers run ``--test``: no sessions). Nothing in
the API process computes anything: the bars a WebSocket client of the API
receives come from the workers, through the bus. Then a signal rule is
created through the API (OBI crossing above 0, which the data crosses every
200 ms): both workers apply it, and every symbol's first signal of that rule
comes within one second of event time after the change. Raising its
threshold out of reach through the API stops the signals within a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

import httpx
import numpy as np
import pytest
import websockets

from quantdesk.bus import Topics, TradeBatch
from quantdesk.bus.kafka import KafkaBus
from quantdesk.domain import BookSnapshot
from quantdesk.sources.simulator import default_universe
from quantdesk.storage import open_store

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SYMBOLS = [m.symbol for m in default_universe("cn")]
STEP_MS = 100
SECRET = "scale-out-test-secret-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A child process whose output is collected line by line on a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "quantdesk", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        self._thread.join(timeout=5)
        return code


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


class Market:
    """Publishes trades and alternating order books for every symbol, in wall time."""

    def __init__(self, bus: KafkaBus) -> None:
        self.bus = bus
        self.stop = threading.Event()
        self.now = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        k = 0
        next_t = time.monotonic()
        while not self.stop.is_set():
            ts = int(time.time() * 1000)
            up = k % 2 == 0
            for n, symbol in enumerate(SYMBOLS):
                price = 10.0 + n
                big, small = (900.0, 300.0) if up else (300.0, 900.0)  # OBI +0.5 / -0.5
                self.bus.send(
                    BookSnapshot(
                        symbol, ts, ((price - 0.01, big),), ((price + 0.01, small),), "test"
                    )
                )
                self.bus.send(
                    TradeBatch(symbol, np.array([ts]), np.array([price]), np.array([100.0]), "test")
                )
            self.bus.flush(5)
            self.now = ts
            k += 1
            next_t += STEP_MS / 1000
            time.sleep(max(0.0, next_t - time.monotonic()))


async def _watch(url: str, token: str, into: dict[str, list], stop: threading.Event) -> None:
    async with websockets.connect(url, max_queue=None) as ws:
        await ws.send(json.dumps({"token": token}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"subscribe": {"symbols": ["*"], "intervals": ["1m"]}}))
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            msg = json.loads(raw)
            into[msg["type"]].append(msg["data"])


def _assignments(worker: Proc, topic: str) -> set[int]:
    """The trades partitions of the worker's latest assignment (eager rebalancing)."""
    latest = [line for line in worker.lines if "worker: assigned" in line]
    if not latest:
        return set()
    return {int(p) for p in re.findall(re.escape(topic) + r"\[(\d+)\]", latest[-1])}


def test_workers_output_reaches_api_clients_and_rule_changes_reach_every_worker(
    kafka_broker: str, pg_url: str
) -> None:
    prefix = f"seam-{uuid.uuid4().hex[:8]}"
    topics = Topics.with_prefix(prefix)
    port = _free_port()
    env = {
        **os.environ,
        "QUANTDESK_BUS": "kafka",
        "QUANTDESK_KAFKA_BOOTSTRAP": kafka_broker,
        "QUANTDESK_BUS_TOPIC_PREFIX": prefix,
        "QUANTDESK_DATABASE_URL": pg_url,
        "QUANTDESK_KAFKA_SESSION_TIMEOUT_MS": "3000",
        "QUANTDESK_CHECKPOINT_SECONDS": "0.5",
        "QUANTDESK_LOG_LEVEL": "WARNING",
        "QUANTDESK_JWT_SECRET": SECRET,
        "QUANTDESK_ADMIN_PASSWORD": "admin-pw",
        "QUANTDESK_GUEST_PASSWORD": "guest-pw",
        "QUANTDESK_TEST_PASSWORD": "test-pw",
        "QUANTDESK_ARGON2_TIME_COST": "1",
        "QUANTDESK_ARGON2_MEMORY_KIB": "64",
        "QUANTDESK_SIGNAL_RULES": "[]",
    }
    producer = KafkaBus(kafka_broker, topics=topics, session_timeout_ms=3000)
    producer.start()
    with open_store(pg_url) as store:
        store.migrate()
    probe = producer.tail([topics.trades])  # learns each symbol's partition
    workers = [Proc(["worker", "--test", "--group", f"{prefix}-stream"], env) for _ in range(2)]
    api = Proc(["serve", "--port", str(port), "--workers", "2"], env)
    market = Market(producer)
    stop_ws = threading.Event()
    got: dict[str, list] = defaultdict(list)
    watcher: threading.Thread | None = None
    try:
        eventually(
            lambda: (
                all(_assignments(w, topics.trades) for w in workers)
                and len(
                    _assignments(workers[0], topics.trades)
                    | _assignments(workers[1], topics.trades)
                )
                == producer.partitions
            ),
            60,
            "both workers own trades partitions",
        )
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(healthy, 60, "serve answers")
        admin = httpx.post(
            f"{base}/api/auth/token", data={"username": "admin", "password": "admin-pw"}
        ).json()["access_token"]
        watcher = threading.Thread(
            target=lambda: asyncio.run(
                _watch(f"ws://127.0.0.1:{port}/ws/market", admin, got, stop_ws)
            ),
            daemon=True,
        )
        watcher.start()
        time.sleep(1.0)  # subscribed before the market starts
        market.thread.start()

        # 1. bars computed only by the workers reach the API's WebSocket client
        eventually(
            lambda: {b["symbol"] for b in got["bar"]} >= set(SYMBOLS), 30, "bars of every symbol"
        )
        partition_of: dict[str, int] = {}
        for m in probe.poll(10_000, timeout=1.0):
            if m.key is not None:
                partition_of[m.key] = m.partition
        owned = [_assignments(w, topics.trades) for w in workers]
        per_worker = [{s for s, p in partition_of.items() if p in mine} for mine in owned]
        assert all(per_worker), (owned, partition_of)  # each worker has symbols of its own

        # 2. a rule created through the API fires on both workers within 1 s of event time
        auth = {"Authorization": f"Bearer {admin}"}
        rule = {"id": "obi-up", "factor": "obi", "buy_above": 0.0}
        t_create = market.now
        r = httpx.post(f"{base}/api/signal-rules", json=rule, headers=auth)
        assert r.status_code == 201, r.text
        mine = lambda: [s for s in got["signal"] if s["rule_id"] == "obi-up"]  # noqa: E731
        eventually(
            lambda: {s["symbol"] for s in mine()} >= set(SYMBOLS), 20, "signals of every symbol"
        )
        first: dict[str, int] = {}
        for s in mine():
            ts = _ms(s["ts"])
            first[s["symbol"]] = min(first.get(s["symbol"], ts), ts)
        assert min(first.values()) >= t_create - STEP_MS  # nothing fired before the change
        print(
            "first signal after the change (event ms):",
            sorted(t - t_create for t in first.values()),
        )
        late = {sym: ts - t_create for sym, ts in first.items() if ts - t_create > 1_000}
        assert not late, f"first signal more than 1 s of event time after the change: {late}"
        for w in workers:
            eventually(lambda w=w: "signal_rule 'obi-up': upsert" in w.text, 5, "worker log")

        # 3. a change through the API (threshold out of reach) stops them within 1 s
        t_update = market.now
        rule["buy_above"] = 0.9
        assert (
            httpx.put(f"{base}/api/signal-rules/obi-up", json=rule, headers=auth).status_code == 200
        )
        time.sleep(2.0)
        last = max(_ms(s["ts"]) for s in mine())
        assert last - t_update <= 1_000, last - t_update
        stored = httpx.get(f"{base}/api/signal-rules/obi-up", headers=auth).json()
        assert stored["buy_above"] == 0.9
    finally:
        market.stop.set()
        stop_ws.set()
        if watcher is not None:
            watcher.join(timeout=5)
        codes = [w.stop() for w in workers]
        api_code = api.stop()
        probe.close()
        producer.close()
    assert codes == [0, 0], [w.text[-2000:] for w in workers]
    assert api_code == 0, api.text[-2000:]


def _ms(iso_text: str) -> int:
    import datetime as dt

    return int(dt.datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000)
