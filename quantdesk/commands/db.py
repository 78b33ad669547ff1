"""``quantdesk config`` and ``quantdesk db migrate|status``."""

from __future__ import annotations

import typer

from quantdesk.commands._common import _fail, _open, _safe_url, _settings
from quantdesk.errors import QuantdeskError


def config() -> None:
    """Print the effective settings (secrets are never printed)."""
    try:
        settings = _settings()
    except QuantdeskError as exc:
        raise _fail(exc) from None
    for name, value in settings.model_dump().items():
        shown = _safe_url(str(value)) if name == "database_url" else value
        typer.echo(f"QUANTDESK_{name.upper()}={shown}")


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
