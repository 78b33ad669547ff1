"""The server log book and ``GET /api/logs`` (admin)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from quantdesk.api.logbook import LogBook, install
from tests.unit.api._app import bearer, build, token


def _record(book: LogBook, name: str, level: int, msg: str, *args: object) -> None:
    book.handle(logging.LogRecord(name, level, __file__, 1, msg, args, None))


def test_search_by_text_and_level_newest_last() -> None:
    book = LogBook(capacity=100)
    for i in range(10):
        _record(book, "quantdesk.runtime", logging.INFO, "bar %d closed", i)
    _record(book, "quantdesk.audit", logging.WARNING, "audit action=login.failed user=%r", "x")
    _record(book, "quantdesk.bus", logging.ERROR, "Kafka down")
    assert [r.message for r in book.search("bar", limit=3)] == [
        f"bar {i} closed" for i in (7, 8, 9)
    ]
    assert [r.logger for r in book.search(level="WARNING")] == ["quantdesk.audit", "quantdesk.bus"]
    assert book.search("AUDIT")[0].message.startswith("audit action=login.failed")
    assert book.search("kafka", level="error")[0].time.endswith("Z")
    assert book.search("nothing like this") == []
    with pytest.raises(ValueError, match="level"):
        book.search(level="LOUD")


def test_capacity_bounds_memory() -> None:
    book = LogBook(capacity=5)
    for i in range(20):
        _record(book, "quantdesk.x", logging.INFO, "m%d", i)
    assert [r.message for r in book.search(limit=100)] == [f"m{i}" for i in range(15, 20)]


def test_install_is_once_per_process() -> None:
    assert install() is install()
    handlers = [h for h in logging.getLogger("quantdesk").handlers if isinstance(h, LogBook)]
    assert len(handlers) == 1


def test_api_logs_admin_only_and_searchable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    for user in ("admin", "guest", "test"):
        monkeypatch.setenv(f"QUANTDESK_{user.upper()}_PASSWORD", f"{user}-pw")
    root = logging.getLogger("quantdesk")
    monkeypatch.setattr(root, "level", logging.INFO)  # restored after the test
    client, store = build(tmp_path)
    with client:
        marker = "<script>alert('log')</script>"
        r = client.post("/api/auth/token", data={"username": marker, "password": "x"})
        assert r.status_code == 401
        admin = bearer(token(client, "admin"))
        rows = client.get("/api/logs", params={"q": "login.failed"}, headers=admin).json()
        assert rows and marker in rows[-1]["message"]  # stored verbatim: the UI escapes
        assert set(rows[-1]) == {"time", "level", "logger", "message"}
        assert rows[-1]["level"] == "WARNING" and rows[-1]["logger"] == "quantdesk.audit"
        guest = bearer(token(client, "guest"))
        assert client.get("/api/logs", headers=guest).status_code == 403
        bad = client.get("/api/logs", params={"level": "LOUD"}, headers=admin)
        assert bad.status_code == 400 and "level" in bad.json()["detail"]
        assert client.get("/api/logs", params={"limit": 0}, headers=admin).status_code == 422
    store.close()
