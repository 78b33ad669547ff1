"""WebSocket fan-out must not starve HTTP: ``/health`` with 0 and 200 ``*`` clients.

``quantdesk run --speed 60`` (the real command: simulator, stream, bus, hub;
a 2-day backfill first) serves ``/ws/market``. A probe asks ``/health`` on
one keep-alive connection every 50 ms and records each answer's latency:
first with no WebSocket client, then while 200 clients, each subscribed to
every symbol (``["*"]``) and interval, receive everything the market
produces. The clients run in a process of their own (so their work never
delays the probe's clock), authenticate with a first message and count the
frames they get. Figures: ``/health`` p50 and p99 with 0 and with 200 clients
(target: p99 < 100 ms with 200), the frames the clients received per
second, and the messages the server counted as dropped for slow clients.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._report import Figure, percentile
from benchmarks.bench_api import SECRET, _env, _free_port, _get

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 200
PROBE_EVERY_S = 0.05


def start_run(
    tmp: Path, speed: float = 60.0, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``quantdesk run --speed N`` on a fresh store (2 days of backfill)."""
    import httpx

    port = _free_port()
    env = {**_env(tmp), "QUANTDESK_BACKFILL_DAYS": "2", **(extra_env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "quantdesk", "run", "--speed", str(speed), "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"quantdesk run died: {err[-2000:]}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("quantdesk run did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def probe(base: str, seconds: float) -> list[float]:
    """``/health`` latencies (ms), one request every 50 ms on a keep-alive connection."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    out: list[float] = []
    end = time.perf_counter() + seconds
    try:
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            status, _ = await _get(reader, writer, request)
            if status != 200:
                raise RuntimeError(f"/health answered {status}")
            out.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(max(0.0, PROBE_EVERY_S - (time.perf_counter() - t0)))
    finally:
        writer.close()
    return out


def metric(base: str, name: str) -> float:
    import httpx

    for line in httpx.get(base + "/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# -- the clients (a process of their own) -----------------------------------------------


async def _clients(url: str, n: int, seconds: float, subscribe: dict[str, Any]) -> dict[str, Any]:
    import websockets

    from quantdesk.auth import TokenService

    token = TokenService(SECRET).issue("guest", "guest")
    counts = [0] * n
    ready = asyncio.Event()
    joined = [0]
    go = asyncio.Event()

    async def client(k: int) -> None:
        async with websockets.connect(url, max_queue=None, open_timeout=60) as ws:
            await ws.send(json.dumps({"token": token}))
            await ws.recv()  # welcome
            await ws.send(json.dumps({"subscribe": subscribe}))
            joined[0] += 1
            if joined[0] == n:
                ready.set()
            await go.wait()
            async for _raw in ws:
                counts[k] += 1

    tasks = [asyncio.create_task(client(k)) for k in range(n)]
    await asyncio.wait_for(ready.wait(), 120)
    print("READY", flush=True)
    go.set()
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"frames": sum(counts), "min": min(counts), "max": max(counts)}


def clients_process(base: str, n: int, seconds: float, subscribe: dict[str, Any]) -> Any:
    url = base.replace("http", "ws") + "/ws/market"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_fanout",
            "--clients",
            url,
            str(n),
            str(seconds),
            json.dumps(subscribe),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        text=True,
    )


def run(quick: bool) -> list[Figure]:
    seconds = 10.0 if quick else 30.0
    with tempfile.TemporaryDirectory(prefix="qd-bench-fanout-") as d:
        proc, base = start_run(Path(d))
        try:
            asyncio.run(probe(base, 5.0))  # warm-up: the market running, nobody watching
            idle = asyncio.run(probe(base, seconds))
            drops0 = metric(base, "quantdesk_ws_dropped_messages_total")
            kids = clients_process(base, CLIENTS, seconds + 5, {"symbols": ["*"], "intervals": []})
            assert kids.stdout is not None
            line = kids.stdout.readline()
            if "READY" not in line:
                raise RuntimeError(f"the clients did not connect: {line}")
            time.sleep(2.0)
            busy = asyncio.run(probe(base, seconds))
            out, _ = kids.communicate(timeout=seconds + 120)
            got = json.loads(out.strip().splitlines()[-1])
            drops = metric(base, "quantdesk_ws_dropped_messages_total") - drops0
        finally:
            stop(proc)
    label = f"--speed 60, {CLIENTS} '*' clients"
    per_client = got["frames"] / CLIENTS / (seconds + 5)
    return [
        Figure("/health p50 (--speed 60, no WebSocket client)", percentile(idle, 50), "ms"),
        Figure(
            "/health p99 (--speed 60, no WebSocket client)",
            percentile(idle, 99),
            "ms",
            higher_is_better=False,
            target=100,
        ),
        Figure(
            f"/health p50 ({label})",
            percentile(busy, 50),
            "ms",
            baseline=percentile(idle, 50),
            baseline_name="no client",
            higher_is_better=False,
        ),
        Figure(
            f"/health p99 ({label})",
            percentile(busy, 99),
            "ms",
            baseline=percentile(idle, 99),
            baseline_name="no client",
            higher_is_better=False,
            target=100,
        ),
        Figure(f"WS frames per client per second ({label})", per_client, "frames/s"),
        Figure(
            f"WS frames per client, fewest/most ({label})",
            got["min"],
            "frames",
            baseline=got["max"],
            baseline_name="most",
        ),
        Figure(f"WS messages dropped for slow clients ({label})", drops, "messages"),
    ]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--clients":
        result = asyncio.run(
            _clients(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5]))
        )
        print(json.dumps(result), flush=True)
    else:
        for fig in run(quick="--quick" in sys.argv):
            print(fig.line(), flush=True)
