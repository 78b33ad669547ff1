"""The `finnhub` ingest command as a process: streams from a fake Finnhub, stops on SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.unit.sources.finnhub.fake import FakeFinnhub, SimClock, rest_server

TOKEN = "tok-CLI-5e5e"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(60)
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_streams_and_stops_on_sigint_without_leaking_the_token(tmp_path) -> None:
    loop = asyncio.new_event_loop()
    fake = FakeFinnhub(SimClock(int(time.time() * 1000), speed=1.0), ["AAPL"], TOKEN)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(10)
    try:
        with rest_server(fake, TOKEN) as rest:
            env = {
                **os.environ,
                "FINNHUB_TOKEN": TOKEN,
                "QUANTDESK_FINNHUB_WS_URL": fake.url,
                "QUANTDESK_FINNHUB_REST_URL": rest.url,
                "QUANTDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
                "QUANTDESK_LOG_LEVEL": "DEBUG",
                "QUANTDESK_CONFIG": str(tmp_path / "none.toml"),
                "PYTHONPATH": str(ROOT),
            }
            env.pop("QUANTDESK_CONFIG")
            code = "from quantdesk.commands.ingest import app; app()"
            proc = subprocess.Popen(
                [sys.executable, "-c", code, "finnhub", "--symbols", "aapl"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 20
            while not fake.subscriptions or not fake.subscriptions[0]:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            time.sleep(1.0)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    assert proc.returncode == 0, err[-2000:]
    assert fake.subscriptions[0] == ["AAPL"]
    assert "Stopped:" in out and "1 connection(s)" in out
    # the first minute is only partly seen, so its trades are left to its REST candle
    assert "Stopped: 0 trades live, 0 in minutes" not in out
    assert TOKEN not in out + err
    assert "token=***" in err  # the handshake was logged, redacted
