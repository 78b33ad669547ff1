"""``quantdesk users``: a lost admin password is recovered; an ignored variable is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantdesk.auth import authenticate, ensure_default_users, make_hasher
from quantdesk.commands import app
from quantdesk.config import load_settings
from quantdesk.storage import open_store

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("QUANTDESK_ADMIN_PASSWORD", "first-password")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    with open_store(settings.resolved_database_url) as store:
        store.migrate()
        ensure_default_users(store, settings, make_hasher(settings), echo=lambda _m: None)
    return tmp_path


def _login(password: str) -> bool:
    settings = load_settings()
    with open_store(settings.resolved_database_url) as store:
        return authenticate(store, make_hasher(settings), "admin", password) is not None


def test_set_password_from_stdin(env: Path) -> None:
    result = runner.invoke(app, ["users", "set-password", "admin"], input="a-new-secret\n")
    assert result.exit_code == 0, result.output
    assert "password of 'admin' changed" in result.output
    assert _login("a-new-secret") and not _login("first-password")


def test_set_password_refuses_unknown_users_and_short_passwords(env: Path) -> None:
    unknown = runner.invoke(app, ["users", "set-password", "root"], input="long-enough\n")
    assert unknown.exit_code == 2
    assert "no user 'root' (users: admin, guest, test)" in unknown.output
    short = runner.invoke(app, ["users", "set-password", "admin"], input="short\n")
    assert short.exit_code == 2 and "password: use 8 to 256 characters (got 5)" in short.output
    empty = runner.invoke(app, ["users", "set-password", "admin", "--stdin"], input="")
    assert empty.exit_code == 2 and "standard input is empty" in empty.output
    assert _login("first-password")


def test_list_shows_users_and_roles_never_hashes(env: Path) -> None:
    result = runner.invoke(app, ["users", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["user", "role", "created", "(UTC)"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["admin", "admin"],
        ["guest", "guest"],
        ["test", "guest"],
    ]
    assert "argon2" not in result.output


def test_start_says_once_that_a_changed_variable_is_ignored(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTDESK_ADMIN_PASSWORD", "second-password")
    settings = load_settings()
    said: list[str] = []
    with open_store(settings.resolved_database_url) as store:
        ensure_default_users(store, settings, make_hasher(settings), echo=said.append)
    assert said == [
        "QUANTDESK_ADMIN_PASSWORD is ignored: user 'admin' exists with another password; "
        "change it with `quantdesk users set-password admin`"
    ]
    monkeypatch.setenv("QUANTDESK_ADMIN_PASSWORD", "first-password")  # the stored one: silent
    settings = load_settings()
    said.clear()
    with open_store(settings.resolved_database_url) as store:
        ensure_default_users(store, settings, make_hasher(settings), echo=said.append)
    assert said == []
