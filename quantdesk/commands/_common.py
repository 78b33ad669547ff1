"""What every command shares: settings, the store, one-line errors."""

from __future__ import annotations

from typing import Annotated, Any

import typer

MarketOpt = Annotated[
    str | None, typer.Option("--market", help="cn (A-shares) or us; default QUANTDESK_MARKET")
]


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _settings(**overrides: Any) -> Any:
    from quantdesk.config import load_settings

    return load_settings(**overrides)


def _open(settings: Any) -> Any:
    from quantdesk.storage import open_store

    store = open_store(settings.resolved_database_url)
    store.migrate()
    return store


def _safe_url(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
