"""API keys through the whole role matrix: read = a guest's rights, trade = read + orders,
admin = everything; revoked and unknown keys 401, a missing scope 403."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from quantdesk.api.security import Trader
from quantdesk.auth import Principal
from tests.unit.api._app import bearer, build, token
from tests.unit.api.test_auth import MATRIX, RULE

#: a route guarded like the order endpoints the trading release adds
TRADE_ROUTE = ("POST", "/api/test-orders", None)

KEY_MATRIX = [
    *MATRIX,
    # (method, path, json, anonymous, guest, admin)
    ("GET", "/api/keys", None, 401, 403, 200),
    ("GET", "/api/audit", None, 401, 403, 200),
    ("POST", "/api/keys", {"user": "test", "scope": "read"}, 401, 403, 201),
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    mp = pytest.MonkeyPatch()
    mp.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    mp.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    for user in ("admin", "guest", "test"):
        mp.setenv(f"QUANTDESK_{user.upper()}_PASSWORD", f"{user}-pw")
    mp.setenv("QUANTDESK_RATE_LIMIT_PER_MINUTE", "0")  # the limit has its own tests
    client, store = build(tmp_path_factory.mktemp("keys"))

    @client.app.post("/api/test-orders")  # type: ignore[attr-defined]
    def orders(user: Trader) -> dict[str, str]:
        return {"by": user.username}

    with client:
        yield client, store
    store.close()
    mp.undo()


def _key(client: TestClient, admin: dict[str, str], user: str, scope: str) -> str:
    r = client.post("/api/keys", json={"user": user, "scope": scope}, headers=admin)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


@pytest.fixture(scope="module")
def keys(setup) -> dict[str, dict[str, str]]:
    client, _ = setup
    admin = bearer(token(client, "admin"))
    return {
        "read": {"X-API-Key": _key(client, admin, "test", "read")},
        "trade": {"X-API-Key": _key(client, admin, "test", "trade")},
        "admin": {"X-API-Key": _key(client, admin, "admin", "admin")},
    }


@pytest.mark.parametrize("scope", ["read", "trade", "admin"])
def test_key_role_matrix(setup, keys, scope: str) -> None:
    """A read or trade key gets what a guest token gets, an admin key what an admin gets."""
    client, _ = setup
    column = "admin" if scope == "admin" else "guest"
    for method, path, body, *expected in KEY_MATRIX:
        want = dict(zip(("anon", "guest", "admin"), expected, strict=True))[column]
        if path == "/api/signal-rules" and method == "POST" and want == 201:
            client.delete(f"/api/signal-rules/{RULE['id']}", headers=keys["admin"])
        r = client.request(method, path, json=body, headers=keys[scope])
        assert r.status_code == want, (scope, method, path, r.text)
        if r.status_code == 403:
            assert f"scope {scope}" in r.json()["detail"]


def test_trade_scope(setup, keys) -> None:
    client, _ = setup
    method, path, _ = TRADE_ROUTE
    assert client.request(method, path).status_code == 401
    assert client.request(method, path, headers=keys["read"]).status_code == 403
    assert client.request(method, path, headers=keys["trade"]).json() == {"by": "test"}
    assert client.request(method, path, headers=keys["admin"]).json() == {"by": "admin"}
    guest = bearer(token(client, "guest"))
    assert client.request(method, path, headers=guest).status_code == 403
    assert client.request(method, path, headers=bearer(token(client, "admin"))).status_code == 200
    assert Principal("x", "admin").can_trade and not Principal("x", "guest").can_trade


def test_me_shows_the_key(setup, keys) -> None:
    client, _ = setup
    me = client.get("/api/auth/me", headers=keys["trade"]).json()
    assert me["username"] == "test" and me["scope"] == "trade" and me["role"] == "guest"
    assert keys["trade"]["X-API-Key"].startswith("qdk_" + me["api_key"])
    assert client.get("/api/auth/me", headers=bearer(token(client, "guest"))).json() == {
        "username": "guest",
        "role": "guest",
        "scope": "read",
    }


def test_revoked_unknown_and_malformed_keys_get_401_everywhere(setup) -> None:
    client, _ = setup
    admin = bearer(token(client, "admin"))
    key = _key(client, admin, "guest", "read")
    key_id = key.split("_")[1]
    assert client.get("/api/signals", headers={"X-API-Key": key}).status_code == 200
    assert client.delete(f"/api/keys/{key_id}", headers=admin).status_code == 204
    assert client.delete(f"/api/keys/{key_id}", headers=admin).status_code == 204  # idempotent
    assert client.delete("/api/keys/000000000000", headers=admin).status_code == 404
    unknown = "qdk_0123456789ab_" + "A" * 43
    for bad in (key, unknown, "garbage", key[:-2]):
        for path in ("/api/signals", "/api/klines?symbol=600036.SH", "/api/symbols"):
            r = client.get(path, headers={"X-API-Key": bad})
            assert r.status_code == 401, (bad, path)
            assert r.json()["detail"].startswith("invalid API key")
    listed = client.get("/api/keys?revoked=true", headers=admin).json()
    row = next(k for k in listed if k["id"] == key_id)
    assert row["revoked_by"] == "admin" and "key_hash" not in row and "key" not in row
    assert key_id not in {k["id"] for k in client.get("/api/keys", headers=admin).json()}


def test_both_credentials_bad_token_and_login_ignore(setup, keys) -> None:
    client, _ = setup
    both = {**keys["read"], **bearer(token(client, "guest"))}
    r = client.get("/api/signals", headers=both)
    assert r.status_code == 400 and "not both" in r.json()["detail"]
    # a bad token is refused on a public endpoint too; the login form ignores it
    assert client.get("/api/klines?symbol=600036.SH", headers=bearer("x.y.z")).status_code == 401
    r = client.post(
        "/api/auth/token",
        data={"username": "guest", "password": "guest-pw"},
        headers=bearer("x.y.z"),
    )
    assert r.status_code == 200


def test_key_creation_rules(setup) -> None:
    client, _ = setup
    admin = bearer(token(client, "admin"))
    r = client.post("/api/keys", json={"user": "test", "scope": "admin"}, headers=admin)
    assert r.status_code == 400 and "role admin" in r.json()["detail"]
    r = client.post("/api/keys", json={"user": "nobody", "scope": "read"}, headers=admin)
    assert r.status_code == 404 and "admin, guest, test" in r.json()["detail"]
    r = client.post("/api/keys", json={"user": "test", "scope": "root"}, headers=admin)
    assert r.status_code == 422
    r = client.post(
        "/api/keys", json={"user": "test", "scope": "read", "name": "a\nb"}, headers=admin
    )
    assert r.status_code == 400


def test_last_used_written_at_most_once_a_minute(setup) -> None:
    client, _ = setup
    app = client.app
    keys = app.state.apikeys  # type: ignore[attr-defined]
    admin = bearer(token(client, "admin"))
    key = _key(client, admin, "test", "read")
    key_id = key.split("_")[1]
    now = [2_000_000_000.0]
    clock = keys._clock
    keys._clock = lambda: now[0]
    writes: list[int] = []
    touch = keys.repo.touch
    keys.repo.touch = lambda ids, ms: (writes.append(ms), touch(ids, ms))
    try:
        for _ in range(5):
            assert client.get("/api/signals", headers={"X-API-Key": key}).status_code == 200
            now[0] += 5
        assert writes == [2_000_000_000_000]
        now[0] += 60
        assert client.get("/api/signals", headers={"X-API-Key": key}).status_code == 200
        assert len(writes) == 2
    finally:
        keys.repo.touch = touch
        keys._clock = clock
    row = next(k for k in client.get("/api/keys", headers=admin).json() if k["id"] == key_id)
    assert row["last_used_ms"] == writes[-1]


def test_keys_on_websockets(setup, keys) -> None:
    client, _ = setup
    with client.websocket_connect("/ws/logs") as ws:
        ws.send_json({"token": keys["admin"]["X-API-Key"]})
        assert ws.receive_json()["type"] == "welcome"
    with client.websocket_connect("/ws/market", headers=keys["read"]) as ws:
        assert ws.receive_json()["type"] == "welcome"
    with client.websocket_connect("/ws/logs") as ws:
        ws.send_json({"token": keys["read"]["X-API-Key"]})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403
    with client.websocket_connect("/ws/market") as ws:
        ws.send_json({"token": "qdk_0123456789ab_" + "A" * 43})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
