"""`quantdesk run` as a user starts it: a real process, a real port, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from quantdesk.sources.tweets.readers import BASE_URL_ENV, TOKEN_ENV
from tests.unit.sentiment.fake_stream import TOKEN, Connection, stream_server, tweet_line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(check, timeout: float = 60.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        time.sleep(every)
    raise AssertionError(f"condition not met in {timeout}s (last error: {last})")


def test_run_serves_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "QUANTDESK_DATA_DIR": str(tmp_path / "data"),
        "QUANTDESK_BACKFILL_DAYS": "2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "quantdesk", "run", "--port", str(port), "--speed", "300"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = eventually(lambda: httpx.get(f"{base}/health", timeout=2).json())
        assert health["status"] == "ok" and health["clock"] == "virtual"

        def has_live_bars():
            r = httpx.get(
                f"{base}/api/klines", params={"symbol": "600036.SH", "limit": 5}, timeout=2
            )
            assert r.status_code == 200
            trades = httpx.get(f"{base}/health", timeout=2).json()["trades"]
            return r.json() if trades > 0 else None

        bars = eventually(has_live_bars)
        assert bars[-1]["time"].endswith("Z") and bars[-1]["source"] == "simulator"
        bad = httpx.get(f"{base}/api/klines", params={"symbol": "600036.SH", "interval": "7m"})
        assert bad.status_code == 400 and "unknown interval" in bad.json()["detail"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Clock: virtual" in out and "Stopped cleanly." in out


def _run_with_tweets(tmp_path: Path, url: str, token: str, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "QUANTDESK_DATA_DIR": str(tmp_path / "data"),
        "QUANTDESK_BACKFILL_DAYS": "0",
        TOKEN_ENV: token,
        BASE_URL_ENV: url,
    }
    cmd = [sys.executable, "-m", "quantdesk", "run", "--market", "us", "--test", "--tweets", "http"]
    return subprocess.Popen(
        [*cmd, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_run_with_the_live_tweet_stream_stops_on_sigterm(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    script = [
        Connection([tweet_line(1, "$AAPL to the moon 🚀", now) + b"\r\n", b"\xff\r\n"], "drop"),
        Connection(
            [tweet_line(i, f"$TSLA bearish {i}", now + i) + b"\r\n" for i in (2, 3)], "hold"
        ),
    ]
    port = free_port()
    with stream_server(script) as srv:
        proc = _run_with_tweets(tmp_path, srv.url, TOKEN, "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        try:
            eventually(lambda: httpx.get(f"{base}/health", timeout=2).json()["tweets"] == 3)
            metrics = httpx.get(f"{base}/metrics", timeout=2).text  # with the other rejects
            assert 'quantdesk_rejects_total{reason="tweet_invalid_utf8"} 1.0' in metrics
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"Tweets: Twitter filtered stream at {srv.url}" in out
    assert "3 scored; rejected: invalid_utf8 1" in out and "Stopped cleanly." in out


def test_run_with_a_refused_twitter_token_stops_with_one_line(tmp_path: Path) -> None:
    with stream_server() as srv:
        proc = _run_with_tweets(tmp_path, srv.url, "wrong-token", "--no-api")
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "error: Twitter stream at" in out and f"check {TOKEN_ENV}" in out
    assert "Traceback" not in out
