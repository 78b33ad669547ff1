"""GET /api/logs covers the log file (every process of the data dir, rotated copies too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.api._app import bearer, build, token


def test_api_logs_reads_the_file_and_its_rotated_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "quantdesk.log.2").write_text(
        '{"time": "2026-01-01T00:00:00.000Z", "level": "INFO", "logger": "quantdesk.worker",'
        ' "message": "oldest, as JSON", "pid": 7}\n'
    )
    (logs / "quantdesk.log.1").write_text(
        "2026-01-01T00:01:00.000Z WARNING quantdesk.worker: worker 2 lost its partition\n"
    )
    (logs / "quantdesk.log").write_text(
        "2026-01-01T00:02:00.000Z INFO quantdesk.cli: key revoked from the command line\n"
    )
    client, store = build(tmp_path)  # the data dir is tmp_path: logs/quantdesk.log
    admin = bearer(token(client, "admin"))
    r = client.get("/api/logs", params={"q": "quantdesk.worker", "limit": 10}, headers=admin)
    assert [x["message"] for x in r.json()] == [
        "oldest, as JSON",
        "worker 2 lost its partition",
    ]
    r = client.get(
        "/api/logs", params={"q": "revoked", "end": "2026-01-01T00:02:00Z"}, headers=admin
    )
    assert r.json() == []
    client.post("/api/auth/token", data={"username": "admin", "password": "wrong"})
    r = client.get("/api/logs", params={"q": "login.failed"}, headers=admin)
    assert any("action=login.failed" in x["message"] for x in r.json())  # this process
    assert client.get("/api/logs?level=LOUD", headers=admin).status_code == 400
    store.close()
