"""`quantdesk serve` as a user starts it: its audit lines reach stderr, no token ever does."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import websockets

from tests.integration.test_cli_run import eventually, free_port


def test_serve_logs_audit_lines_and_never_a_token(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "QUANTDESK_DATA_DIR": str(tmp_path / "data"),
        "QUANTDESK_ADMIN_PASSWORD": "admin-pw-123",
        "QUANTDESK_ARGON2_TIME_COST": "1",
        "QUANTDESK_ARGON2_MEMORY_KIB": "64",
        "QUANTDESK_JWT_SECRET": "serve-logs-secret-0123456789abcdef012345",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "quantdesk", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200)
        bad = httpx.post(f"{base}/api/auth/token", data={"username": "admin", "password": "no"})
        assert bad.status_code == 401
        good = httpx.post(
            f"{base}/api/auth/token", data={"username": "admin", "password": "admin-pw-123"}
        )
        token = good.json()["access_token"]

        async def open_with_query_token() -> None:
            try:
                async with websockets.connect(f"ws://127.0.0.1:{port}/ws/logs?token={token}") as ws:
                    await asyncio.wait_for(ws.recv(), 5)
            except (websockets.WebSocketException, TimeoutError, OSError):
                pass  # refused or accepted: either way the URL must not be logged as is

        asyncio.run(open_with_query_token())
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert "audit action=login.failed user='admin' client=127.0.0.1" in err
    assert "audit action=login user=admin role=admin client=127.0.0.1" in err
    assert token not in err
    assert token.split(".")[2] not in err  # not even the signature
    assert "WARNING quantdesk.audit:" in err  # the one record format
