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
