"""Request body limit (413 before buffering) and the signal rule id pattern."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quantdesk.config import load_settings
from quantdesk.errors import ConfigError
from quantdesk.stream.signals import SignalRule
from tests.unit.api._app import bearer, build, token


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("QUANTDESK_MAX_BODY_BYTES", "1000")
    c, store = build(tmp_path)
    yield c
    store.close()


def test_declared_length_over_the_limit_is_413_before_auth(client) -> None:
    body = b"{" + b" " * 5000 + b"}"
    headers = {"Content-Type": "application/json"}
    r = client.post("/api/signal-rules", content=body, headers=headers)
    assert r.status_code == 413  # not the 401 an anonymous caller gets: the body is never read
    assert r.json()["detail"] == "request body too large: at most 1,000 bytes (got 5,002 bytes)"


def test_streamed_body_over_the_limit_is_413(client) -> None:
    read: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(100):  # 100 x 500 bytes, no Content-Length: chunked
            read.append(1)
            yield b" " * 500

    r = client.post(
        "/api/signal-rules",
        content=chunks(),
        headers={**bearer(token(client, "admin")), "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert "at most 1,000 bytes" in r.json()["detail"]


def test_a_body_under_the_limit_passes(client) -> None:
    rule = {"id": "small", "factor": "obi", "buy_above": 0.5, "sell_below": -0.5}
    r = client.post("/api/signal-rules", json=rule, headers=bearer(token(client, "admin")))
    assert r.status_code == 201, r.text


def test_default_limit_is_one_mib() -> None:
    assert load_settings().max_body_bytes == 1 << 20


BAD_IDS = ["a/b", "a\x00b", "..", "a..b", "../x", "", " ", "x" * 65, "a b", "é", ".a", "a."]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_rule_ids_outside_the_safe_pattern_are_refused(bad: str, client) -> None:
    with pytest.raises(ConfigError, match="id"):
        SignalRule(id=bad, factor="obi", buy_above=0.5)
    body = {"id": bad, "factor": "obi", "buy_above": 0.5}
    r = client.post("/api/signal-rules", json=body, headers=bearer(token(client, "admin")))
    assert r.status_code == 422, (bad, r.status_code)
    assert r.json()["detail"].startswith("id:")


@pytest.mark.parametrize("good", ["obi", "rsi", "obi-600036.SH-1a2b3c", "A_b.c-1", "x" * 64])
def test_safe_rule_ids_are_accepted(good: str) -> None:
    assert SignalRule(id=good, factor="obi", buy_above=0.5).id == good


def test_generated_ids_follow_the_pattern(client) -> None:
    body = {"factor": "obi", "symbol": "*", "buy_above": 0.5}
    r = client.post("/api/signal-rules", json=body, headers=bearer(token(client, "admin")))
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    r = client.get(f"/api/signal-rules/{rule_id}", headers=bearer(token(client, "admin")))
    assert r.status_code == 200
    assert rule_id.startswith("obi-all-")
