"""API keys and the audit log on both backends (SQL written once: SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from quantdesk.auth.apikeys import ApiKeys, hash_key
from quantdesk.errors import DataError, NotFoundError
from quantdesk.storage.apikeys import ApiKeyRepository
from quantdesk.storage.audit import AuditRepository, audit
from quantdesk.storage.sql import engine_for


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    eng = engine_for(store_url)
    yield eng
    eng.dispose()


def test_keys_created_hashed_listed_revoked_and_touched(engine: sa.Engine) -> None:
    repo = ApiKeyRepository(engine)
    repo.create_tables()
    repo.create_tables()  # idempotent
    now = [1_700_000_000.0]
    keys = ApiKeys(repo, clock=lambda: now[0])
    a = keys.create("admin", "admin", role="admin", name="ops", by="admin")
    now[0] += 1  # listed in creation order
    b = keys.create("test", "trade", role="guest", name="bot", by="admin")
    assert a.key.startswith("qdk_" + a.row.id + "_") and len(a.key) == 4 + 12 + 1 + 43
    stored = repo.get(a.row.id)
    assert stored is not None and stored.key_hash == hash_key(a.key) and a.key not in str(stored)
    assert [r.id for r in repo.listed()] == [a.row.id, b.row.id]
    assert [r.id for r in repo.listed("test")] == [b.row.id]
    assert keys.lookup(b.key) == b.row
    assert keys.lookup(b.key[:-1] + ("A" if b.key[-1] != "A" else "B")) is None  # wrong secret
    now[0] += 10
    row, changed = keys.revoke(b.row.id, "admin")
    assert changed and row.revoked_ms == 1_700_000_011_000 and row.revoked_by == "admin"
    assert keys.lookup(b.key) is None  # at once in this process
    row2, changed2 = keys.revoke(b.row.id, "other")
    assert not changed2 and row2.revoked_by == "admin"  # the first revocation stays
    assert [r.id for r in repo.listed()] == [a.row.id]
    assert len(repo.listed(include_revoked=True)) == 2
    repo.touch([a.row.id], 5_000)
    repo.touch([a.row.id], 4_000)  # never backwards
    assert repo.get(a.row.id).last_used_ms == 5_000  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        keys.revoke("0123456789ab", "admin")
    with pytest.raises(DataError, match="role admin"):
        keys.create("test", "admin", role="guest", by="admin")
    with pytest.raises(DataError, match="scope"):
        keys.create("test", "root", role="guest", by="admin")


def test_audit_rows_written_and_searched(engine: sa.Engine) -> None:
    repo = AuditRepository(engine)
    repo.create_tables()
    t0 = 1_700_000_000_000
    for k, (user, action) in enumerate(
        [
            ("admin", "login"),
            ("mallory", "login.failed"),
            ("admin", "key.create"),
            ("admin", "signal_rule.update"),
            ("x_y", "login_other"),
        ]
    ):
        assert audit(
            engine, action, user=user, client="10.0.0.1", detail={"k": k}, time_ms=t0 + k * 1000
        )
    rows = repo.search()
    assert [r.action for r in rows] == [
        "login",
        "login.failed",
        "key.create",
        "signal_rule.update",
        "login_other",
    ]
    assert rows[1].username == "mallory" and rows[1].client == "10.0.0.1"
    assert rows[1].detail == {"k": 1}
    assert [r.action for r in repo.search(action="login")] == ["login", "login.failed"]
    assert [r.action for r in repo.search(user="admin")] == [
        "login",
        "key.create",
        "signal_rule.update",
    ]
    window = repo.search(start_ms=t0 + 1000, end_ms=t0 + 3000)
    assert [r.detail["k"] for r in window] == [1, 2]
    assert [r.detail["k"] for r in repo.search(limit=2)] == [3, 4]  # newest, oldest first
    assert repo.search(user="x%") == [] and repo.search(action="login_") == []  # no wildcards
    long = audit(engine, "login.failed", user="u" * 500, detail={"blob": "x" * 50_000})
    assert long
    last = repo.search(limit=1)[0]
    assert len(last.username) == 64 and last.detail["truncated"] is True
