"""The auth matrix: anonymous, guest and admin against every endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.unit.api._app import bearer, build, token

RULE = {"id": "m1", "factor": "obi", "symbol": "600036.SH", "buy_above": 0.6, "sell_below": -0.6}

# (method, path, json, expected status for anonymous, guest, admin)
MATRIX = [
    ("GET", "/health", None, 200, 200, 200),
    ("GET", "/metrics", None, 200, 200, 200),
    ("GET", "/openapi.json", None, 200, 200, 200),
    ("GET", "/api/klines?symbol=600036.SH", None, 200, 200, 200),
    ("GET", "/api/symbols", None, 200, 200, 200),
    ("GET", "/api/auth/me", None, 401, 200, 200),
    ("GET", "/api/v2/system/health", None, 401, 200, 200),
    ("GET", "/api/v2/system/status", None, 401, 200, 200),
    ("GET", "/api/v2/system/metrics", None, 401, 200, 200),
    ("GET", "/api/v2/stocks/quotes?symbols=600036,000001", None, 401, 200, 200),
    ("GET", "/api/v2/stocks/600036/historical?period=1d", None, 401, 200, 200),
    ("GET", "/api/v2/ai/predictions", None, 401, 404, 404),
    ("GET", "/api/v2/ai/models/ensemble/status", None, 401, 404, 404),
    ("GET", "/api/factors?symbol=600036.SH", None, 401, 200, 200),
    ("GET", "/api/signals", None, 401, 200, 200),
    ("GET", "/api/rejects", None, 401, 200, 200),
    ("GET", "/api/logs?q=audit", None, 401, 403, 200),
    ("GET", "/", None, 200, 200, 200),
    ("GET", "/static/js/main.js", None, 200, 200, 200),
    ("GET", "/api/signal-rules", None, 401, 200, 200),
    ("POST", "/api/signal-rules", RULE, 401, 403, 201),
    ("PUT", "/api/signal-rules/m1", {**RULE, "buy_above": 0.7}, 401, 403, 200),
    ("DELETE", "/api/signal-rules/m1", None, 401, 403, 204),
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    mp.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    for user in ("admin", "guest", "test"):
        mp.setenv(f"QUANTDESK_{user.upper()}_PASSWORD", f"{user}-pw")
    client, store = build(tmp_path_factory.mktemp("auth"))
    with client:
        yield (
            client,
            {
                "anon": {},
                "guest": bearer(token(client, "guest")),
                "admin": bearer(token(client, "admin")),
            },
        )
    store.close()
    mp.undo()


@pytest.mark.parametrize("who", ["anon", "guest", "admin"])
def test_matrix(setup, who: str) -> None:
    client, headers = setup
    for method, path, body, *expected in MATRIX:
        want = dict(zip(("anon", "guest", "admin"), expected, strict=True))[who]
        r = client.request(method, path, json=body, headers=headers[who])
        assert r.status_code == want, (who, method, path, r.text)
        if r.status_code >= 400:
            detail = r.json()["detail"]
            assert isinstance(detail, str) and "\n" not in detail


def test_login_wrong_password_and_rate_limit(setup) -> None:
    client, _ = setup
    form = {"username": "test", "password": "nope"}
    codes = [client.post("/api/auth/token", data=form).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    r = client.post("/api/auth/token", data={"username": "test", "password": "test-pw"})
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert (
        client.post("/api/auth/token", data={"username": "x", "password": "y"}).status_code == 401
    )


def test_token_shape_and_bad_tokens(setup) -> None:
    client, headers = setup
    r = client.post("/api/auth/token", data={"username": "admin", "password": "admin-pw"})
    body = r.json()
    assert body["token_type"] == "bearer" and body["role"] == "admin"
    assert client.get("/api/auth/me", headers=headers["guest"]).json()["username"] == "guest"
    for bad in ("garbage", body["access_token"] + "x"):
        assert client.get("/api/signals", headers=bearer(bad)).status_code == 401


def test_generated_passwords_are_printed_once(tmp_path: Path, monkeypatch) -> None:
    from quantdesk.api.app import create_app
    from quantdesk.api.context import ApiContext
    from quantdesk.config import load_settings
    from quantdesk.storage import open_store

    for user in ("ADMIN", "GUEST", "TEST"):
        monkeypatch.delenv(f"QUANTDESK_{user}_PASSWORD", raising=False)
    settings = load_settings(data_dir=tmp_path)
    lines: list[str] = []
    with open_store(settings.resolved_database_url) as store:
        create_app(ApiContext(store, settings), echo=lines.append)
        create_app(ApiContext(store, settings), echo=lines.append)
        assert [u.role for u in store.list_users()] == ["admin", "guest", "guest"]
        assert all(u.password_hash.startswith("$argon2id$") for u in store.list_users())
    assert len(lines) == 3 and all("generated password" in line for line in lines)
    password = lines[0].split("generated password: ")[1].split()[0]
    with open_store(settings.resolved_database_url) as store:
        client = TestClient(create_app(ApiContext(store, settings), echo=lines.append))
        r = client.post("/api/auth/token", data={"username": "admin", "password": password})
        assert r.status_code == 200


def test_cors_origins(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("QUANTDESK_CORS_ORIGINS", "http://localhost:5173, http://x.test")
    client, store = build(tmp_path)
    r = client.options(
        "/api/signals",
        headers={"Origin": "http://x.test", "Access-Control-Request-Method": "GET"},
    )
    assert r.headers["access-control-allow-origin"] == "http://x.test"
    r = client.get("/health", headers={"Origin": "http://evil.test"})
    assert "access-control-allow-origin" not in r.headers
    store.close()
