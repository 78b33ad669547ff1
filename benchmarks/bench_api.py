"""API benchmarks: ``/api/klines`` under load, and WebSocket bar latency.

1. ``/api/klines`` at 100 concurrent clients against a real uvicorn server in
   a subprocess (quantdesk's ``create_app``) over a SQLite store of ~1M bars
   (quick: 100k): requests/s and p95, beside the seed-D-style baseline
   served the same way from the same file (a plain FastAPI endpoint doing a
   SQLAlchemy ORM query and building a dict per row). Measured twice: over
   a store nothing writes to (the issue's figure), and while a thread writes
   every symbol's open bar through the runtime's sink 4 times a second as
   ``quantdesk run`` does (each write invalidates quantdesk's cache of
   encoded answers, so this one shows the cost of staying current). The
   load generator is an asyncio loop of 100 workers with one keep-alive
   connection each (hand-written HTTP/1.1, see :func:`_load`); it runs on
   the same machine and takes CPU from the server, as a co-located client
   would. Every server runs one uvicorn process with the configuration of
   ``quantdesk serve`` (:mod:`quantdesk.runtime.server`).
2. WebSocket latency: a server subprocess runs the real stream path (memory
   bus -> :class:`StreamConsumer` -> SQLite sink -> hub) and publishes
   trade batches at 10,000 trades/s (100 trades per batch, each batch one
   second of one symbol's event time), with the configuration of ``quantdesk
   run``; 50 clients subscribed on ``/ws/market``
   (1m bars) in this process record when each bar update arrives. Latency,
   per batch and client = the arrival of the first update of that batch's
   bar whose trade count includes the batch (the count names how many
   batches the bar holds) - the wall time just before the batch was sent
   onto the bus; p50/p99 over every batch sent and every client. A batch
   whose trades no update ever shows (e.g. held back by the partial-bar
   throttle until the run ended) counts as an infinite latency, and the
   figure says how many there were.

Run one part by hand: ``python -m benchmarks.bench_api``.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from benchmarks._report import Figure, percentile
from quantdesk.domain import BAR_COLUMNS

SYMBOLS = [f"{600000 + i:06d}.SH" for i in range(10)]
T0 = 1_700_000_000_000 // 60_000 * 60_000
SECRET = "bench-secret-0123456789abcdef0123456789"
CONCURRENCY = 100
WS_CLIENTS = 50
TRADES_PER_S = 10_000
TRADES_PER_BATCH = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "QUANTDESK_DATA_DIR": str(tmp),
        "QUANTDESK_JWT_SECRET": SECRET,
        "QUANTDESK_ADMIN_PASSWORD": "bench-admin",
        "QUANTDESK_GUEST_PASSWORD": "bench-guest",
        "QUANTDESK_TEST_PASSWORD": "bench-test",
        "QUANTDESK_LOG_LEVEL": "WARNING",
        # the request limiter on (its cost is measured) but never refusing 100 clients
        "QUANTDESK_RATE_LIMIT_PER_MINUTE": "1000000000",
        "QUANTDESK_RATE_LIMIT_BURST": "1000000",
    }


def _build_store(url: str, n_bars: int) -> None:
    from quantdesk.sources.simulator import default_universe
    from quantdesk.storage import open_store

    per = n_bars // len(SYMBOLS)
    rng = np.random.default_rng(1)
    with open_store(url) as store:
        store.migrate()
        store.upsert_metadata(default_universe("cn"))
        for sym in SYMBOLS:
            close = 10 + np.cumsum(rng.normal(0, 0.01, per))
            frame = pd.DataFrame(
                {
                    "symbol": sym,
                    "interval": "1m",
                    "time": T0 + np.arange(per, dtype=np.int64) * 60_000,
                    "open": close,
                    "high": close + 0.01,
                    "low": close - 0.01,
                    "close": close,
                    "volume": 1000.0,
                    "vwap": close,
                    "trades": 10,
                    "source": "simulator",
                }
            )[list(BAR_COLUMNS)]
            store.upsert_bars(frame)


# -- servers (run in a subprocess: python -m benchmarks.bench_api --serve ...) --


def _baseline_app(url: str) -> Any:
    """Seed D's way: an ORM query, then one dict per row, FastAPI's default JSON."""
    from fastapi import FastAPI
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from benchmarks.baseline_orm import SqliteKline

    engine = create_engine(url, connect_args={"check_same_thread": False})
    app = FastAPI()

    @app.get("/api/klines")
    def klines(symbol: str, interval: str = "1m", limit: int = 200) -> list[dict[str, Any]]:
        with Session(engine) as session:
            rows = session.scalars(
                select(SqliteKline)
                .where(SqliteKline.symbol == symbol, SqliteKline.interval == interval)
                .order_by(SqliteKline.time.desc())
                .limit(limit)
            ).all()
            return [
                {
                    "symbol": r.symbol,
                    "interval": r.interval,
                    "time": pd.Timestamp(r.time, unit="ms", tz="UTC").isoformat(),
                    "open": r.open,
                    "high": r.high,
                    "low": r.low,
                    "close": r.close,
                    "volume": r.volume,
                    "vwap": r.vwap,
                    "trades": r.trades,
                    "source": r.source,
                }
                for r in reversed(rows)
            ]

    return app


def _serve(kind: str, port: int) -> None:
    """Serve ``kind`` the way ``quantdesk serve`` does (:mod:`quantdesk.runtime.server`)."""
    import uvicorn

    from quantdesk.config import load_settings
    from quantdesk.runtime.server import api_config, freeze_startup_objects
    from quantdesk.storage import open_store

    settings = load_settings()
    if kind == "baseline":
        app = _baseline_app(settings.resolved_database_url)
    else:
        from quantdesk.api.app import create_app
        from quantdesk.api.context import ApiContext

        store = open_store(settings.resolved_database_url)
        if kind == "ws":
            app = _ws_server_app(store, settings)
        else:
            app = create_app(ApiContext(store, settings), echo=lambda _m: None)
        if kind == "live":
            threading.Thread(target=_live_writer, args=(store,), daemon=True).start()
    ws = os.environ.get("QD_BENCH_WS", "auto")
    server = uvicorn.Server(api_config(app, "127.0.0.1", port, ws=ws))
    freeze_startup_objects()
    server.run()


def _live_writer(store: Any) -> None:
    """What the live market does to the store: every symbol's open 1m bar rewritten
    through the runtime's sink every 0.25 s (``quantdesk run``'s tick), and
    the next minute started every 60 writes, so cached answers keep going stale."""
    from quantdesk.domain import Bar
    from quantdesk.runtime.sink import StoreSink

    sink = StoreSink(store)
    bars = [Bar(*store.query_bars(sym, "1m", None, None, 1)[0][:10]) for sym in SYMBOLS]
    k = 0
    while True:
        time.sleep(0.25)
        k += 1
        new_minute = k % 60 == 0
        bars = [
            Bar(
                b.symbol,
                "1m",
                b.time + 60_000 if new_minute else b.time,
                b.open,
                max(b.high, b.close + 0.01),
                min(b.low, b.close - 0.01),
                b.close + (0.01 if k % 2 else -0.01),
                b.volume + 100.0,
                b.vwap,
                b.trades + 1,
                final=False,
            )
            for b in bars
        ]
        sink.write(bars, [])


def _start(
    kind: str, tmp: Path, ws: str = "auto", env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_api", "--serve", kind, str(port)],
        env={**_env(tmp), "QD_BENCH_WS": ws, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"{kind} server died: {err[-2000:]}")
        try:
            httpx.get(base + "/api/klines", params={"symbol": SYMBOLS[0]}, timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


# -- load generator ---------------------------------------------------------------


def _quiet_collector() -> None:
    """Keep the load generator's own GC pauses out of the figures.

    This process holds pandas, numpy and the data it built; a full collection
    here stalled every client for 50-65 ms (measured), which would be
    counted as server latency. The servers get the same treatment through
    :func:`quantdesk.runtime.server.freeze_startup_objects`.
    """
    gc.collect()
    gc.freeze()


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 GET on an open connection: (status, body)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    return status, body


def klines_path(i: int) -> str:
    """The i-th request of the klines load: the newest 200 1m bars of a rotating symbol."""
    return f"/api/klines?symbol={SYMBOLS[i % len(SYMBOLS)]}&limit=200"


async def _load(
    base: str,
    seconds: float,
    warmup: float = 1.0,
    path: Any = klines_path,
    check: Any = None,
    headers: str = "",
) -> tuple[float, list[float]]:
    """100 workers, one keep-alive connection each, asking ``path(i)`` (default: the newest
    200 1m bars of a rotating symbol; ``headers``: extra header lines, each ending in CRLF).

    Hand-written HTTP/1.1 on asyncio streams: the client shares the machine's
    two cores with the server, and httpx costs several times more CPU per
    request than the server does (measured: httpx with one pooled client
    ~50 req/s, one client per worker ~370 req/s, this loop far more), so it
    would measure httpx. The first answer of each worker is checked
    (``check(body)``; default: a JSON list of 200 bars).
    """
    _quiet_collector()
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    t_measure = time.perf_counter() + warmup
    t_end = t_measure + seconds
    check = check or (lambda body: len(orjson.loads(body)) == 200)

    async def worker(k: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        i = k
        checked = False
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                target = path(i)
                i += 7
                request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode()
                status, body = await _get(reader, writer, request)
                t1 = time.perf_counter()
                if status != 200:
                    errors += 1
                    continue
                if not checked:
                    assert check(body), body[:200]
                    checked = True
                if t0 >= t_measure:
                    latencies.append(t1 - t0)
        finally:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(CONCURRENCY)))
    if errors:
        raise RuntimeError(f"{errors} requests failed")
    return len(latencies) / seconds, latencies


def _klines_figures(quick: bool, tmp: Path) -> list[Figure]:
    n_bars = 100_000 if quick else 1_000_000
    seconds = 3.0 if quick else 10.0
    _build_store(f"sqlite:///{(tmp / 'quantdesk.db').as_posix()}", n_bars)
    results: dict[str, tuple[float, float]] = {}
    for kind in ("quantdesk", "live", "baseline"):
        proc, base = _start(kind, tmp)
        try:
            rps, lat = asyncio.run(_load(base, seconds))
        finally:
            _stop(proc)
        results[kind] = (rps, percentile(lat, 95) * 1000)
    (q_rps, q_p95), (b_rps, b_p95) = results["quantdesk"], results["baseline"]
    l_rps, l_p95 = results["live"]
    label = f"{n_bars // 1000}k bars, {CONCURRENCY} clients"
    live = f"{label}, bars written 4x/s"
    return [
        Figure(
            f"/api/klines req/s ({label})",
            q_rps,
            "req/s",
            baseline=b_rps,
            baseline_name="ORM endpoint",
            target=1_500,
        ),
        Figure(
            f"/api/klines p95 ({label})",
            q_p95,
            "ms",
            baseline=b_p95,
            baseline_name="ORM endpoint",
            higher_is_better=False,
            target=50,
        ),
        Figure(
            f"/api/klines req/s ({live})",
            l_rps,
            "req/s",
            baseline=b_rps,
            baseline_name="ORM endpoint",
            target=1_500,
        ),
        Figure(
            f"/api/klines p95 ({live})",
            l_p95,
            "ms",
            baseline=b_p95,
            baseline_name="ORM endpoint",
            higher_is_better=False,
            target=50,
        ),
    ]


# -- WebSocket latency --------------------------------------------------------------


def _ws_server_app(store: Any, settings: Any) -> Any:
    """The app plus the real stream path fed by a paced trade publisher thread.

    As in ``quantdesk run``: the consumer publishes its output on the bus's
    output topics and the API's hub reads them from there.
    """
    from quantdesk.api.app import create_app
    from quantdesk.api.context import ApiContext, RuntimeCounters
    from quantdesk.bus import TradeBatch, bus_from_settings
    from quantdesk.runtime.consumer import StreamConsumer
    from quantdesk.runtime.pipeline import StreamProcessor
    from quantdesk.runtime.sink import StoreSink

    store.migrate()

    class Harness:
        market = "cn"
        stopping = False

        def __init__(self) -> None:
            self.processor = StreamProcessor(None, SYMBOLS)
            self.sink = StoreSink(store)
            self.bus = bus_from_settings(settings)
            self.bus.start()
            self.consumer = StreamConsumer(
                self.bus, self.processor, self.sink, checkpoint_seconds=None
            )
            self.sent: list[tuple[str, int, int, float]] = []
            self.running = False

        def describe(self) -> dict[str, Any]:
            return {"sent": len(self.sent)}

        def counters(self) -> RuntimeCounters:
            return RuntimeCounters(trades=self.processor.trades_in)

        def run(self, seconds: float) -> None:
            """Publish TRADES_PER_S for ``seconds``; each symbol's batch k spans event
            second k, so every batch yields a partial 1m bar update."""
            self.running = True
            batches_per_s = TRADES_PER_S // TRADES_PER_BATCH
            step = 1.0 / batches_per_s
            n = int(seconds * batches_per_s)
            rng = np.random.default_rng(2)
            t_next = time.perf_counter()
            for j in range(n):
                sym = SYMBOLS[j % len(SYMBOLS)]
                k = j // len(SYMBOLS)
                ts = T0 + k * 1000 + np.sort(rng.integers(0, 1000, TRADES_PER_BATCH))
                price = 10 + rng.normal(0, 0.01, TRADES_PER_BATCH)
                size = np.full(TRADES_PER_BATCH, 100.0)
                batch = TradeBatch(sym, ts.astype(np.int64), price, size, "simulator")
                bar_start = (T0 + k * 1000) // 60_000 * 60_000
                in_bar = ((T0 + k * 1000) - bar_start) // 1000 + 1
                self.sent.append((sym, bar_start, int(in_bar * TRADES_PER_BATCH), time.time()))
                self.bus.send(batch)
                while self.consumer.poll_once(timeout=0.0):
                    pass
                t_next += step
                delay = t_next - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            self.running = False

    harness = Harness()
    app = create_app(ApiContext(store, settings, harness.bus, harness), echo=lambda _m: None)

    @app.post("/bench/start")
    def start(seconds: float) -> dict[str, Any]:
        threading.Thread(target=harness.run, args=(seconds,), daemon=True).start()
        return {"ok": True}

    @app.get("/bench/sent")
    def sent() -> dict[str, Any]:
        return {"running": harness.running, "sent": harness.sent}

    return app


async def _ws_clients(base: str, seconds: float) -> list[float]:
    import httpx
    import websockets

    from quantdesk.auth import TokenService

    _quiet_collector()
    token = TokenService(SECRET).issue("guest", "guest")
    url = base.replace("http", "ws") + "/ws/market"
    #: per client: (symbol, bar start ms) -> [(arrival, trades in the bar), ...]
    received: list[dict[tuple[str, int], list[tuple[float, int]]]] = [
        defaultdict(list) for _ in range(WS_CLIENTS)
    ]
    ready = asyncio.Event()
    subscribed = [0]

    async def client(k: int) -> None:
        mine = received[k]
        async with websockets.connect(url, max_queue=None) as ws:
            await ws.send(json.dumps({"token": token}))
            await ws.recv()  # welcome
            await ws.send(json.dumps({"subscribe": {"symbols": ["*"], "intervals": ["1m"]}}))
            await ws.recv()
            subscribed[0] += 1
            if subscribed[0] == WS_CLIENTS:
                ready.set()
            async for raw in ws:  # cancelled at the end
                now = time.time()
                msg = orjson.loads(raw)
                if msg["type"] == "bar":  # open and final updates alike
                    d = msg["data"]
                    start = dt.datetime.fromisoformat(d["time"].replace("Z", "+00:00"))
                    ms = int(start.timestamp() * 1000)
                    mine[(d["symbol"], ms)].append((now, int(d["trades"])))

    tasks = [asyncio.create_task(client(k)) for k in range(WS_CLIENTS)]
    await asyncio.wait_for(ready.wait(), 30)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        await http.post("/bench/start", params={"seconds": seconds})
        await asyncio.sleep(seconds + 1.0)
        while _running(await http.get("/bench/sent")):
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        sent = (await http.get("/bench/sent")).json()["sent"]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return _batch_latencies(sent, received)


def _batch_latencies(
    sent: list[tuple[str, int, int, float]],
    received: list[dict[tuple[str, int], list[tuple[float, int]]]],
) -> list[float]:
    """Seconds from each batch's send to the first update showing it, per client.

    A bar's trade count only grows, so the first update (in arrival order)
    whose count reaches the batch's cumulative count is the first that
    reflects the batch, whichever later batch emitted it.
    """
    latencies: list[float] = []
    for updates in received:
        firsts: dict[tuple[str, int], tuple[list[int], list[float]]] = {}
        for key, arrivals in updates.items():
            counts, times, best = [], [], 0
            for t, n in sorted(arrivals):
                if n > best:  # a new high: the first arrival showing this many trades
                    best = n
                    counts.append(n)
                    times.append(t)
            firsts[key] = (counts, times)
        for sym, bar, n, t_sent in sent:
            counts, times = firsts.get((sym, bar), ([], []))
            i = bisect.bisect_left(counts, n)
            latencies.append(times[i] - t_sent if i < len(counts) else float("inf"))
    return latencies


def _running(response: Any) -> bool:
    body = response.json()
    if "running" not in body:
        raise RuntimeError(f"benchmark server answered {response.status_code}: {body}")
    return bool(body["running"])


def _ws_latencies(quick: bool, tmp: Path, ws: str) -> list[float]:
    seconds = 5.0 if quick else 20.0
    ws_dir = tmp / f"ws-{ws}"
    ws_dir.mkdir()
    _build_store(f"sqlite:///{(ws_dir / 'quantdesk.db').as_posix()}", 1_000)
    proc, base = _start("ws", ws_dir, ws)
    try:
        latencies = asyncio.run(_ws_clients(base, seconds))
    finally:
        _stop(proc)
    return [s * 1000 for s in latencies]


def _ws_figures(quick: bool, tmp: Path) -> list[Figure]:
    label = f"{TRADES_PER_S:,} trades/s, {WS_CLIENTS} clients"
    figures = []
    # "auto" is what `quantdesk run` uses: websockets-sansio since uvicorn 0.35.
    for ws in ("auto",):
        lat_ms = _ws_latencies(quick, tmp, ws)
        name = "" if ws == "auto" else f", uvicorn ws={ws}"
        figures.append(Figure(f"WS bar latency p50 ({label}{name})", percentile(lat_ms, 50), "ms"))
        figures.append(
            Figure(
                f"WS bar latency p99 ({label}{name}, n={len(lat_ms):,}{_never(lat_ms)})",
                percentile(lat_ms, 99),
                "ms",
                higher_is_better=False,
                target=20,
            )
        )
    return figures


def _never(lat_ms: list[float]) -> str:
    never = sum(1 for x in lat_ms if x == float("inf"))
    return f", {never:,} never shown" if never else ""


def run(quick: bool) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="qd-bench-api-") as d:
        tmp = Path(d)
        return _klines_figures(quick, tmp) + _ws_figures(quick, tmp)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], int(sys.argv[3]))
    else:
        for fig in run(quick="--quick" in sys.argv):
            print(fig.line(), flush=True)
