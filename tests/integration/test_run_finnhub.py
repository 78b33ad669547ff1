"""`quantdesk run --source finnhub`: live Finnhub trades and the API in one process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.unit.sources.finnhub.fake import FakeFinnhub, SimClock, rest_server

TOKEN = "tok-RUN-7f7f"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(90)
def test_run_with_finnhub_source_serves_the_api(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    fake = FakeFinnhub(SimClock(int(time.time() * 1000), speed=1.0), ["AAPL"], TOKEN)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(10)
    port = free_port()
    try:
        with rest_server(fake, TOKEN) as rest:
            env = {
                **os.environ,
                "FINNHUB_TOKEN": TOKEN,
                "QUANTDESK_FINNHUB_WS_URL": fake.url,
                "QUANTDESK_FINNHUB_REST_URL": rest.url,
                "QUANTDESK_TWEETS": "none",  # the bars are under test, not sentiment
                "QUANTDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
                "PYTHONPATH": str(ROOT),
            }
            proc = subprocess.Popen(
                [sys.executable, "-m", "quantdesk", "run", "--source", "finnhub",
                 "--symbols", "AAPL", "--port", str(port)],
                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            deadline = time.monotonic() + 30
            health = None
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                    if fake.subscriptions and fake.subscriptions[0]:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            assert health is not None and health["status"] == "ok"
            assert fake.subscriptions[0] == ["AAPL"]
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    assert proc.returncode == 0, err[-2000:]
    assert "live Finnhub trades for AAPL" in out and "Stopped cleanly." in out
    assert TOKEN not in out + err


@pytest.mark.timeout(90)
def test_finnhub_bars_reach_a_websocket_client_and_the_store_holds_the_trades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --source finnhub` as the command wires it (the one runner and the API in one
    loop, :func:`serve_platform`), with the source on the fake's clock (60x): a client of
    /ws/market receives live AAPL bars, and every complete stored minute holds exactly the
    trades the fake sent."""
    import orjson
    from websockets.asyncio.client import connect

    from quantdesk.config import load_settings
    from quantdesk.runtime.platform import serve_platform
    from quantdesk.runtime.runner import Runner
    from quantdesk.sources.finnhub import SOURCE_LIVE, FinnhubSource
    from quantdesk.storage import open_store

    monkeypatch.setenv("QUANTDESK_ADMIN_PASSWORD", "admin-pw")
    monkeypatch.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    start = 1_699_999_800_000 + 30_000  # a minute boundary plus 30 s
    clock = SimClock(start, speed=60.0)
    port = free_port()

    async def scenario() -> tuple[list[dict], object, FakeFinnhub, int, int]:
        fake = FakeFinnhub(clock, ["AAPL"], TOKEN)
        await fake.start()
        with rest_server(fake, TOKEN) as rest:
            settings = load_settings(
                data_dir=tmp_path,
                tweets="none",
                finnhub_ws_url=fake.url,
                finnhub_rest_url=rest.url,
                finnhub_heartbeat_seconds=0.05,
                finnhub_rest_settle_seconds=1.0,
            )
            store = open_store(settings.resolved_database_url)
            source = FinnhubSource(
                settings, ["AAPL"], token=TOKEN, clock=clock, calendar=None, margin_ms=10_000
            )
            runner = Runner(settings, store, source=source, test_mode=True, echo=lambda _m: None)
            fake.pause()  # until the source listens (start-up is slow on a busy machine)
            await asyncio.to_thread(runner.prepare)
            platform = asyncio.create_task(serve_platform(runner, "127.0.0.1", port))
            while not fake.subscriptions:
                await asyncio.sleep(0.01)
            resumed = clock()
            fake.resume()
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base) as http:
                for _ in range(200):
                    try:
                        if (await http.get("/health")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.05)
                login = {"username": "admin", "password": "admin-pw"}
                tok = (await http.post("/api/auth/token", data=login)).json()["access_token"]
            bars: list[dict] = []
            async with connect(f"ws://127.0.0.1:{port}/ws/market") as ws:
                await ws.send(orjson.dumps({"token": tok}).decode())  # never in the URL
                assert orjson.loads(await ws.recv())["type"] == "welcome"
                await ws.send(orjson.dumps({"subscribe": {"symbols": ["AAPL"]}}).decode())
                while not any(b["final"] and b["interval"] == "1m" for b in bars):
                    msg = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
                    if msg["type"] == "bar":
                        bars.append(msg["data"])
            await asyncio.sleep(4.0)  # four more minutes of the fake's trades
            stopped_at = clock()
            runner.stop()  # what SIGTERM does
            await asyncio.wait_for(platform, 20)
        await fake.stop()
        return bars, store, fake, resumed, stopped_at

    bars, store, fake, resumed, stopped_at = asyncio.run(scenario())
    assert {b["symbol"] for b in bars} == {"AAPL"}
    assert any(not b["final"] for b in bars)  # open bars as they grow, then the final one
    first = resumed // 60_000 * 60_000  # the fake trades from then on
    end = (stopped_at // 60_000 - 1) * 60_000  # the last minute may be cut by the stop
    rows = store.query_bars("AAPL", "1m", first, end)  # type: ignore[attr-defined]
    truth = fake.minute_volumes("AAPL", first, end)
    assert len(truth) >= 4 and {r[2]: r[7] for r in rows} == truth
    assert SOURCE_LIVE in {r[10] for r in rows}
    store.close()  # type: ignore[attr-defined]
