"""``quantdesk keys create | list | revoke`` and the audit rows every CLI change leaves."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantdesk.auth import ensure_default_users, make_hasher
from quantdesk.auth.apikeys import ApiKeys
from quantdesk.commands import app
from quantdesk.config import load_settings
from quantdesk.storage import open_store
from quantdesk.storage.apikeys import ApiKeyRepository
from quantdesk.storage.audit import audit_log_of
from quantdesk.storage.sql import engine_for

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("QUANTDESK_BACKFILL_DAYS", "2")
    monkeypatch.delenv("QUANTDESK_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    with open_store(settings.resolved_database_url) as store:
        store.migrate()
        ensure_default_users(store, settings, make_hasher(settings), echo=lambda _m: None)
    return tmp_path


def _audit() -> list[tuple[str, str, str, dict]]:
    url = load_settings().resolved_database_url
    engine = engine_for(url)
    try:
        rows = audit_log_of(engine).search()
    finally:
        engine.dispose()
    return [(r.action, r.username, r.client, r.detail) for r in rows]


def test_create_list_revoke(env: Path) -> None:
    made = runner.invoke(app, ["keys", "create", "test", "--scope", "trade", "--name", "bot"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("qdk_") and "shown once" in made.stderr
    key_id = key.split("_")[1]
    engine = engine_for(load_settings().resolved_database_url)
    keys = ApiKeys(ApiKeyRepository(engine))
    row = keys.lookup(key)
    assert row is not None and row.username == "test" and row.scope == "trade"

    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and key_id in listed.output and key not in listed.output
    assert "bot" in listed.output and "trade" in listed.output

    gone = runner.invoke(app, ["keys", "revoke", key_id])
    assert gone.exit_code == 0 and f"key {key_id} of 'test' revoked" in gone.output
    keys._cache.clear()
    assert keys.lookup(key) is None
    assert key_id not in runner.invoke(app, ["keys", "list"]).output
    assert key_id in runner.invoke(app, ["keys", "list", "--revoked"]).output
    engine.dispose()

    who = f"cli:{getpass.getuser()}"
    actions = _audit()
    assert [a[0] for a in actions] == ["key.create", "key.revoke"]
    assert all(a[1] == who and a[2].startswith("cli@") for a in actions)
    assert actions[0][3] == {"key_id": key_id, "owner": "test", "scope": "trade", "name": "bot"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["keys", "create", "test", "--scope", "root"], "--scope: use one of read, trade, admin"),
        (["keys", "create", "nobody"], "no user 'nobody' (users: admin, guest, test)"),
        (["keys", "create", "guest", "--scope", "admin"], "an admin key needs a user with role"),
        (["keys", "revoke", "0123456789ab"], "no API key '0123456789ab'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(env: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_cli_changes_are_audited(env: Path) -> None:
    assert (
        runner.invoke(app, ["users", "set-password", "guest"], input="a-new-secret\n").exit_code
        == 0
    )
    assert runner.invoke(app, ["jobs", "set", "cleanup", "--disable"]).exit_code == 0
    assert runner.invoke(app, ["jobs", "run", "buy"]).exit_code == 0
    actions = _audit()
    assert [a[0] for a in actions] == ["user.set_password", "job.schedule", "job.run"]
    assert actions[0][3] == {"of": "guest"}
    assert actions[1][3] == {"job": "cleanup", "enabled": False}
    assert actions[2][3]["job"] == "buy" and actions[2][3]["status"] == "skipped"
    assert all(a[1].startswith("cli:") for a in actions)
