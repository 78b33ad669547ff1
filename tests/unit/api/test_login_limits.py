"""The login limit holds: concurrent guesses, forged forwarded headers, rotating addresses."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext
from quantdesk.auth import LoginLimiter
from quantdesk.config import load_settings
from quantdesk.runtime.server import api_config
from quantdesk.storage import open_store
from tests.unit.api._app import build


def test_twenty_concurrent_wrong_passwords_get_429s(tmp_path: Path) -> None:
    client, store = build(tmp_path)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answers = await asyncio.gather(
                *(
                    http.post("/api/auth/token", data={"username": "admin", "password": "no"})
                    for _ in range(20)
                )
            )
        return sorted(r.status_code for r in answers)

    try:
        assert asyncio.run(burst()) == [401] * 5 + [429] * 15
    finally:
        store.close()


def test_per_username_limit_across_addresses() -> None:
    limiter = LoginLimiter(per_minute=5, per_user_per_minute=8)
    allowed = [limiter.acquire("admin", f"10.0.0.{i}") == 0 for i in range(12)]
    assert allowed == [True] * 8 + [False] * 4
    assert limiter.acquire("guest", "10.0.0.1") == 0  # another user is not affected
    assert limiter.retry_after("admin", "10.9.9.9") > 0


def test_a_success_takes_its_attempt_back() -> None:
    limiter = LoginLimiter(per_minute=2, per_user_per_minute=3)
    for _ in range(5):
        assert limiter.acquire("admin", "1.1.1.1") == 0
        limiter.succeeded("admin", "1.1.1.1")
    assert limiter.acquire("admin", "1.1.1.1") == 0
    assert limiter.acquire("admin", "1.1.1.1") == 0
    assert limiter.acquire("admin", "1.1.1.1") > 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start a real server (the shared configuration) with the given settings; yield its URL."""
    started: list[tuple[uvicorn.Server, threading.Thread, Any]] = []

    def start(**env: str) -> str:
        monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        store = open_store(settings.resolved_database_url)
        app = create_app(ApiContext(store, settings), echo=lambda _m: None)
        port = _free_port()
        server = uvicorn.Server(api_config(app, "127.0.0.1", port, lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        started.append((server, thread, store))
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread, store in started:
        server.should_exit = True
        thread.join(10)
        store.close()


def _forged_logins(url: str, n: int) -> list[int]:
    codes = []
    for i in range(n):
        r = httpx.post(
            f"{url}/api/auth/token",
            data={"username": "admin", "password": "wrong"},
            headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
        )
        codes.append(r.status_code)
    return codes


def test_forged_forwarded_for_from_loopback_is_ignored(serve, caplog) -> None:
    url = serve()
    with caplog.at_level(logging.INFO, logger="quantdesk.audit"):
        codes = _forged_logins(url, 7)
    assert codes == [401] * 5 + [429] * 2  # one address: 127.0.0.1, whatever the header says
    audit = [r.getMessage() for r in caplog.records if r.name == "quantdesk.audit"]
    assert audit and all("client=127.0.0.1" in line for line in audit)
    assert not any("203.0.113" in line for line in audit)


def test_forwarded_for_from_a_named_proxy_is_the_client(serve, caplog) -> None:
    url = serve(QUANTDESK_FORWARDED_ALLOW_IPS="127.0.0.1")
    with caplog.at_level(logging.INFO, logger="quantdesk.audit"):
        codes = _forged_logins(url, 7)
    assert codes == [401] * 7  # seven clients behind the proxy, one failure each
    audit = [r.getMessage() for r in caplog.records if r.name == "quantdesk.audit"]
    assert any("client=203.0.113.7" in line for line in audit)


def test_forwarded_allow_ips_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from quantdesk.errors import ConfigError

    monkeypatch.setenv("QUANTDESK_FORWARDED_ALLOW_IPS", "10.0.0.1,proxy.local")
    with pytest.raises(ConfigError, match=r"QUANTDESK_FORWARDED_ALLOW_IPS: 'proxy\.local'"):
        load_settings()
