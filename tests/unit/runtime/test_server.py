"""The API server configuration shared by ``quantdesk run``, ``serve`` and the benchmarks."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from typer.testing import CliRunner

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext
from quantdesk.commands import app as cli
from quantdesk.config import load_settings
from quantdesk.runtime import server as server_mod
from quantdesk.runtime.server import api_config, freeze_startup_objects
from quantdesk.sources.simulator import default_universe
from quantdesk.storage import open_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in {
        "QUANTDESK_DATA_DIR": str(tmp_path),
        "QUANTDESK_ARGON2_TIME_COST": "1",
        "QUANTDESK_ARGON2_MEMORY_KIB": "64",
        "QUANTDESK_ADMIN_PASSWORD": "admin-pw",
        "QUANTDESK_GUEST_PASSWORD": "guest-pw",
        "QUANTDESK_TEST_PASSWORD": "test-pw",
        "QUANTDESK_JWT_SECRET": "unit-test-secret-0123456789abcdef0123",
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def test_config_has_no_access_log_and_no_ws_compression() -> None:
    config = api_config(object(), "127.0.0.1", 1)
    assert config.access_log is False
    assert config.ws_per_message_deflate is False
    assert (config.loop, config.http, config.ws) == ("auto", "auto", "auto")


def test_freeze_moves_live_objects_out_of_collections() -> None:
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_client_asking_for_compression_gets_plain_frames(env: Path) -> None:
    """A real server on the shared configuration: ws works, without permessage-deflate."""
    settings = load_settings()
    store = open_store(settings.resolved_database_url)
    store.upsert_metadata(default_universe("cn"))
    app = create_app(ApiContext(store, settings), echo=lambda _m: None)
    port = _free_port()
    server = uvicorn.Server(api_config(app, "127.0.0.1", port, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.05)
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/token",
            data={"username": "guest", "password": "guest-pw"},
        ).json()["access_token"]

        async def talk() -> tuple[Any, str]:
            url = f"ws://127.0.0.1:{port}/ws/market"
            async with websockets.connect(url, compression="deflate") as ws:
                await ws.send(json.dumps({"token": token}))
                welcome = await ws.recv()
                return ws.response.headers.get("Sec-WebSocket-Extensions"), str(welcome)

        extensions, welcome = asyncio.run(talk())
        assert extensions is None
        assert '"welcome"' in welcome
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


def test_serve_command_uses_the_shared_configuration(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, str, int, int]] = []
    monkeypatch.setattr(
        server_mod,
        "serve_api",
        lambda app, host, port, *, ws_max_size: calls.append((app, host, port, ws_max_size)),
    )
    result = CliRunner().invoke(cli, ["serve", "--port", "8999"])
    assert result.exit_code == 0, result.output
    assert [c[1:] for c in calls] == [("127.0.0.1", 8999, 65_536)]
    assert config_ws_max_size() == 65_536


def config_ws_max_size() -> int:
    return int(api_config(object(), "127.0.0.1", 1).ws_max_size)


def test_query_strings_are_redacted_from_uvicorn_logs() -> None:
    from quantdesk.runtime.server import RedactQuery

    api_config(object(), "127.0.0.1", 1)  # installs the filter
    assert any(isinstance(f, RedactQuery) for f in logging.getLogger("uvicorn.error").filters)
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5555", "/ws/logs?token=eyJhbGciOi.secret.sig&x=1"),
        None,
    )
    RedactQuery().filter(record)
    assert record.getMessage() == '127.0.0.1:5555 - "WebSocket /ws/logs?token=***&x=***" [accepted]'


def test_serve_with_two_processes_on_one_port(env: Path) -> None:
    """`quantdesk serve --workers 2`: two API processes answer on one port; SIGTERM stops all."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "quantdesk", "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, "QUANTDESK_LOG_LEVEL": "INFO"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        answered = 0
        while answered < 20:
            assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
            try:
                with httpx.Client(timeout=2) as http:  # new connections: spread by the kernel
                    if http.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        answered += 1
            except httpx.HTTPError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "2 processes" in out
    assert out.count("Started server process") == 2, out


def test_serve_workers_refuses_a_port_in_use(env: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port), "--workers", "2"])
    assert result.exit_code == 2
    assert "cannot listen on" in result.output
