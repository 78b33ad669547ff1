"""End-to-end fixtures: a real ``quantdesk run`` process and real headless Chromium.

``platform`` starts ``quantdesk run --speed 60`` (the simulated market on
the virtual exchange clock, which skips closed periods: one event minute per
wall second, so bars close every second) on a free port over a fresh data
dir, with known passwords, and stops it with SIGTERM at the end of the
module. A test module sets ``SPEED = "1"`` to see what a new user sees at 1x
(and ``ENV = {...}`` for settings of its own). ``browser`` drives the
operating system's Chromium through Playwright for Python (``make test``
installs Chromium: ``scripts/install-chromium``); tests never download a
browser. Every test may save screenshots with ``shoot(page, name)`` into
``test-artifacts/screenshots/`` (kept after the run).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORDS = {"admin": "e2e-admin-pw", "guest": "e2e-guest-pw", "test": "e2e-test-pw"}
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Platform:
    base: str
    data_dir: Path
    proc: subprocess.Popen[str]

    def token(self, user: str = "admin") -> str:
        r = httpx.post(
            f"{self.base}/api/auth/token",
            data={"username": user, "password": PASSWORDS[user]},
            timeout=10,
        )
        r.raise_for_status()
        return str(r.json()["access_token"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium_path() -> str:
    """The OS's Chromium: QUANTDESK_CHROMIUM, else chromium / chromium-browser on PATH."""
    for candidate in (
        os.environ.get("QUANTDESK_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail(
        "the end-to-end tests need Chromium: `make test` installs it "
        "(scripts/install-chromium: apt-get install chromium), or set QUANTDESK_CHROMIUM",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Platform]:
    speed = str(getattr(request.module, "SPEED", "60"))
    data_dir = tmp_path_factory.mktemp("e2e") / "data"
    port = _free_port()
    env = {
        **os.environ,
        "QUANTDESK_DATA_DIR": str(data_dir),
        # 25 trading days: always two calendar months and five weeks (the 1w/1M switcher)
        "QUANTDESK_BACKFILL_DAYS": "25",
        "QUANTDESK_ADMIN_PASSWORD": PASSWORDS["admin"],
        "QUANTDESK_GUEST_PASSWORD": PASSWORDS["guest"],
        "QUANTDESK_TEST_PASSWORD": PASSWORDS["test"],
        "QUANTDESK_JWT_SECRET": "e2e-jwt-secret-0123456789abcdef0123456789",
        "QUANTDESK_LOGIN_ATTEMPTS_PER_MINUTE": "100",
        # ~1 tweet a wall second per symbol at speed 60: live, yet a tweet stays on
        # the sentiment page's newest-50 list for about a minute
        "QUANTDESK_SENTIMENT_RATE": "0.2",
    }
    env.update(getattr(request.module, "ENV", {}))  # a module's own settings
    env.pop("QUANTDESK_DATABASE_URL", None)
    log_path = data_dir.parent / "run.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "quantdesk", "run", "--speed", speed, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"quantdesk run exited: {log_path.read_text()[-3000:]}", pytrace=False)
        try:
            if httpx.get(f"{base}/health", timeout=2).json().get("trades", 0) > 0:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"quantdesk run did not start: {log_path.read_text()[-3000:]}")
        time.sleep(0.3)
    try:
        yield Platform(base, data_dir, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no session) whose page errors fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(30_000)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def shoot() -> Callable[[Any, str], Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(pg: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return save


def login(page: Any, base: str, user: str = "admin", password: str | None = None) -> None:
    """Log in through the form; with the right password, wait for the market page."""
    page.goto(f"{base}/#/login")
    page.fill("#username", user)
    page.fill("#password", password if password is not None else PASSWORDS[user])
    page.click("#login-submit")
    if password is None:
        page.wait_for_url("**/#/market**")
