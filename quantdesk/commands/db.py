"""``quantdesk config`` and ``quantdesk db migrate|status``."""

from __future__ import annotations

import json
from typing import Any

import typer

from quantdesk.commands._common import _fail, _open, _safe_url, _settings
from quantdesk.errors import QuantdeskError


def config() -> None:
    """Print the effective settings (secrets are never printed)."""
    try:
        settings = _settings()
    except QuantdeskError as exc:
        raise _fail(exc) from None
    for name in type(settings).model_fields:
        typer.echo(f"QUANTDESK_{name.upper()}={shown_value(name, getattr(settings, name))}")


def shown_value(name: str, value: Any) -> str:
    """A setting as ``quantdesk config`` prints it: the form the environment takes.

    Unset is always empty (never ``None``); a secret that is set is ``***``;
    booleans are ``true``/``false``; lists and tables are JSON; a database
    URL hides its password.
    """
    from pydantic import SecretStr

    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return "***" if value.get_secret_value() else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    if name == "database_url":
        return _safe_url(str(value))
    return str(value)


def db_migrate() -> None:
    """Apply pending schema migrations."""
    try:
        settings = _settings()
        from quantdesk.storage import open_store

        with open_store(settings.resolved_database_url) as store:
            version = store.migrate()
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(f"schema version {version}")


def db_status() -> None:
    """Show the store, its schema version and bar counts."""
    try:
        settings = _settings()
        store = _open(settings)
        with store:
            typer.echo(f"store: {_safe_url(settings.resolved_database_url)}")
            typer.echo(f"schema version: {store.migrate()}")
            typer.echo(f"bars: {store.count_bars():,}")
            last = store.last_bar_time("1m")
            if last is not None:
                from quantdesk.domain.time import iso

                typer.echo(f"last 1m bar: {iso(last)}")
    except QuantdeskError as exc:
        raise _fail(exc) from None
