"""The API-wide request limit: a token bucket per API key, else per client address."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantdesk.api.ratelimit import RequestLimiter
from tests.unit.api._app import bearer, build, token


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_burst_refill_and_retry_after() -> None:
    clock = Clock()
    lim = RequestLimiter(per_minute=60, burst=3, clock=clock)  # one a second
    assert [lim.take("a") for _ in range(4)] == [0, 0, 0, 1]
    assert lim.take("b") == 0  # another client has its own bucket
    clock.t += 0.5
    assert lim.take("a") == 1  # half a token: wait the rest, rounded up
    clock.t += 0.5
    assert lim.take("a") == 0
    clock.t += 100
    assert [lim.take("a") for _ in range(4)] == [0, 0, 0, 1]  # refilled to the burst only
    slow = RequestLimiter(per_minute=6, burst=1, clock=clock)  # one per 10 s
    assert slow.take("x") == 0 and slow.take("x") == 10
    off = RequestLimiter(per_minute=0, burst=1, clock=clock)
    assert all(off.take("a") == 0 for _ in range(1000))


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import quantdesk.api.ratelimit as rl

    monkeypatch.setattr(rl, "MAX_KEYS", 100)
    clock = Clock()
    lim = RequestLimiter(per_minute=60, burst=5, clock=clock)
    for k in range(1000):
        lim.take(f"ip:{k}")
        clock.t += 0.01
    assert len(lim._buckets) <= 100


def test_api_answers_429_with_retry_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_RATE_LIMIT_PER_MINUTE", "60")
    monkeypatch.setenv("QUANTDESK_RATE_LIMIT_BURST", "5")
    client, store = build(tmp_path)
    clock = Clock()
    limiter = client.app.state.limiter  # type: ignore[attr-defined]
    limiter._clock = clock
    admin = bearer(token(client, "admin"))  # 1 request of this address's 5
    key = client.post("/api/keys", json={"user": "test", "scope": "read"}, headers=admin)
    api_key = {"X-API-Key": key.json()["key"]}  # 2 of 5
    codes = [client.get("/api/symbols").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/api/klines?symbol=600036.SH", headers=admin)  # tokens count by address
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert "client address" in r.json()["detail"] and "\n" not in r.json()["detail"]
    assert client.get("/health").status_code == 200  # only /api/ is limited
    assert client.get("/static/js/main.js").status_code == 200
    # the key has its own bucket
    assert [client.get("/api/signals", headers=api_key).status_code for _ in range(6)] == [
        200
    ] * 5 + [429]
    r = client.get("/api/signals", headers=api_key)
    assert "per API key" in r.json()["detail"]
    clock.t += 1.0
    assert client.get("/api/symbols").status_code == 200
    assert client.get("/api/signals", headers=api_key).status_code == 200
    metrics = client.get("/metrics").text
    assert 'status="429"' in metrics
    store.close()


def test_bad_keys_count_against_the_address(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("QUANTDESK_RATE_LIMIT_PER_MINUTE", "60")
    monkeypatch.setenv("QUANTDESK_RATE_LIMIT_BURST", "3")
    client, store = build(tmp_path)
    client.app.state.limiter._clock = Clock()  # type: ignore[attr-defined]
    codes = [
        client.get("/api/symbols", headers={"X-API-Key": f"qdk_{k:012x}_" + "A" * 43}).status_code
        for k in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    store.close()
