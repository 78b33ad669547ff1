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


#: setting -> the command-line option that overrides it: a bad option value is
#: reported under the option's own name, not the variable's.
OPTION_OF = {
    "api_port": "--port",
    "api_host": "--host",
    "backfill_days": "--days",
    "market": "--market",
    "tweets": "--tweets",
    "finnhub_market_hours": "--market-hours",
}


def _settings(**overrides: Any) -> Any:
    """Load the settings and set up logging the one way every command logs.

    ``overrides`` are the command's options; one that is invalid raises a
    :class:`~quantdesk.errors.ConfigError` naming the option (``--market: ...``).
    """
    from quantdesk.config import load_settings
    from quantdesk.config.logs import configure_logging
    from quantdesk.errors import ConfigError

    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        text = str(exc)
        for field, value in overrides.items():
            prefix = f"QUANTDESK_{field.upper()}:"
            if value is not None and text.startswith(prefix):
                option = OPTION_OF.get(field, "--" + field.replace("_", "-"))
                raise ConfigError(option + text[len(prefix) - 1 :]) from None
        raise
    configure_logging(settings)  # stderr and the rotating log file
    return settings


def _require(ok: bool, option: str, message: str) -> None:
    """Refuse a bad option value at the boundary: ``error: --days: must be >= 1 (got 0)``."""
    if not ok:
        from quantdesk.errors import DataError

        raise _fail(DataError(f"{option}: {message}"))


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
