"""Audit rows for every audited API action, and GET /api/audit (admin)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.api._app import bearer, build, token

RULE = {"id": "a1", "factor": "obi", "symbol": "600036.SH", "buy_above": 0.6, "sell_below": -0.6}


def test_each_api_action_leaves_an_audit_row(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("QUANTDESK_LOGIN_ATTEMPTS_PER_MINUTE", "2")
    client, store = build(tmp_path)
    admin = bearer(token(client, "admin"))
    bad = {"username": "<b>mallory</b>", "password": "nope"}
    assert [client.post("/api/auth/token", data=bad).status_code for _ in range(3)] == [
        401,
        401,
        429,
    ]
    assert client.post("/api/signal-rules", json=RULE, headers=admin).status_code == 201
    changed = {**RULE, "buy_above": 0.7}
    assert client.put("/api/signal-rules/a1", json=changed, headers=admin).status_code == 200
    key = client.post(
        "/api/keys", json={"user": "admin", "scope": "admin", "name": "ops"}, headers=admin
    ).json()
    with_key = {"X-API-Key": key["key"]}
    assert client.delete("/api/signal-rules/a1", headers=with_key).status_code == 204
    assert client.delete(f"/api/keys/{key['id']}", headers=admin).status_code == 204

    rows = client.get("/api/audit", headers=admin).json()
    assert [r["action"] for r in rows] == [
        "login",
        "login.failed",
        "login.failed",
        "login.limited",
        "signal_rule.create",
        "signal_rule.update",
        "key.create",
        "signal_rule.delete",
        "key.revoke",
    ]
    assert {r["client"] for r in rows} == {"testclient"}
    assert rows[0]["user"] == "admin" and rows[0]["detail"] == {"role": "admin"}
    assert rows[1]["user"] == "<b>mallory</b>"  # untrusted text, stored as given
    assert rows[3]["detail"]["retry_after"] >= 1
    assert rows[5]["detail"]["rule"]["buy_above"] == 0.7
    assert rows[6]["detail"] == {
        "key_id": key["id"],
        "owner": "admin",
        "scope": "admin",
        "name": "ops",
    }
    assert key["key"] not in str(rows)  # a key is never in the audit log
    assert rows[7]["detail"] == {"id": "a1", "api_key": key["id"]}  # done with the key
    assert rows[8]["user"] == "admin" and rows[8]["detail"]["key_id"] == key["id"]
    assert rows[0]["time"].endswith("Z") and rows[0]["time_ms"] <= rows[-1]["time_ms"]

    # search: by user, by action family, by time, newest first when limited
    assert {r["user"] for r in client.get("/api/audit?user=admin", headers=admin).json()} == {
        "admin"
    }
    logins = client.get("/api/audit", params={"action": "login"}, headers=admin).json()
    assert [r["action"] for r in logins] == [
        "login",
        "login.failed",
        "login.failed",
        "login.limited",
    ]
    keys = client.get("/api/audit?action=key", headers=admin).json()
    assert [r["action"] for r in keys] == ["key.create", "key.revoke"]
    assert [r["action"] for r in client.get("/api/audit?limit=1", headers=admin).json()] == [
        "key.revoke"
    ]
    t = rows[4]["time_ms"]
    window = client.get(f"/api/audit?start={t}&end={rows[-1]['time_ms'] + 1}", headers=admin)
    assert window.json()[0]["time_ms"] >= t and len(window.json()) <= 5
    assert client.get("/api/audit?start=2030-01-01T00:00:00Z", headers=admin).json() == []
    store.close()


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("action=Login", 400),
        ("action=login%25", 400),
        ("start=x", 400),
        ("start=2026-01-02&end=2026-01-01", 400),
        ("limit=0", 422),
        ("limit=5001", 422),
        ("user=" + "x" * 65, 422),
    ],
)
def test_bad_searches_are_one_line_4xx(tmp_path: Path, query: str, status: int) -> None:
    client, store = build(tmp_path)
    r = client.get(f"/api/audit?{query}", headers=bearer(token(client, "admin")))
    assert r.status_code == status and "\n" not in r.json()["detail"]
    store.close()


def test_audit_needs_admin(tmp_path: Path) -> None:
    client, store = build(tmp_path)
    assert client.get("/api/audit").status_code == 401
    r = client.get("/api/audit", headers=bearer(token(client, "guest")))
    assert r.status_code == 403
    store.close()


def test_a_failed_audit_write_never_fails_the_action(tmp_path: Path, caplog) -> None:
    import sqlalchemy as sa

    client, store = build(tmp_path)
    repo = client.app.state.audit  # type: ignore[attr-defined]
    with repo.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE audit_log"))
    with caplog.at_level("ERROR", logger="quantdesk.audit"):
        assert client.post("/api/auth/token", data={"username": "admin", "password": "admin-pw"})
        r = client.post("/api/signal-rules", json=RULE, headers=bearer(token(client, "admin")))
    assert r.status_code == 201
    assert any("was not stored" in rec.getMessage() for rec in caplog.records)
    store.close()
