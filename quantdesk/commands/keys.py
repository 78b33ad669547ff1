"""``quantdesk keys create | list | revoke``: users' API keys (``X-API-Key``).

``create`` prints the key once (only its SHA-256 is stored); ``list`` never
shows a key, only its id; ``revoke`` stops a key at once in the servers of
this store (within a second in a running server: it caches lookups that
long). Every change is an audit row (``key.create``, ``key.revoke``) by
``cli:<os user>`` from ``cli@<host>``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from quantdesk.commands._common import _fail, _open, _settings
from quantdesk.errors import QuantdeskError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _keys(store: Any) -> Any:
    from quantdesk.auth.apikeys import ApiKeys
    from quantdesk.storage.apikeys import ApiKeyRepository
    from quantdesk.storage.sql import engine_for

    engine = getattr(store, "engine", None) or engine_for(store.url)
    repo = ApiKeyRepository(engine)
    repo.create_tables()
    return ApiKeys(repo)


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    import datetime as dt

    return f"{dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC):%Y-%m-%d %H:%M}"


@app.command("create")
def create(
    user: Annotated[str, typer.Argument(help="whose key, e.g. test")],
    scope: Annotated[
        str, typer.Option(help="read (a guest's rights), trade (read + orders) or admin")
    ] = "read",
    name: Annotated[str, typer.Option(help="a label, e.g. the script using it")] = "",
) -> None:
    """Create an API key for a user; the key is printed once, never stored."""
    from quantdesk.auth.apikeys import SCOPES, create_key
    from quantdesk.storage.audit import cli_identity

    if scope not in SCOPES:
        raise _fail(ValueError(f"--scope: use one of {', '.join(SCOPES)} (got {scope!r})"))
    who, where = cli_identity()
    try:
        settings = _settings()
        with _open(settings) as store:
            new = create_key(store, _keys(store), user, scope, name=name, by=who, client=where)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(new.key)
    typer.echo(
        f"key {new.row.id} for {new.row.username!r}, scope {new.row.scope}: shown once, "
        "store it now; send it as 'X-API-Key: <key>'",
        err=True,
    )


@app.command("list")
def list_keys(
    user: Annotated[str | None, typer.Option(help="only this user's keys")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="include revoked keys")] = False,
) -> None:
    """List API keys (ids, never the keys): user, scope, name, created, last used, revoked."""
    try:
        settings = _settings()
        with _open(settings) as store:
            rows = _keys(store).listed(user, include_revoked=revoked)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    if not rows:
        typer.echo("no API keys" + ("" if revoked else " (--revoked shows revoked ones)"))
        return
    typer.echo(
        f"{'id':<14}{'user':<12}{'scope':<7}{'created (UTC)':<18}{'last used':<18}"
        f"{'revoked':<18}name"
    )
    for r in rows:
        typer.echo(
            f"{r.id:<14}{r.username[:11]:<12}{r.scope:<7}{_when(r.created_ms):<18}"
            f"{_when(r.last_used_ms):<18}{_when(r.revoked_ms):<18}{r.name}"
        )


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="the key's id (see keys list)")]) -> None:
    """Revoke an API key: requests with it get 401 from now on."""
    from quantdesk.auth.apikeys import revoke_key
    from quantdesk.storage.audit import cli_identity

    who, where = cli_identity()
    try:
        settings = _settings()
        with _open(settings) as store:
            row = revoke_key(_keys(store), key_id.strip(), by=who, client=where)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(f"key {row.id} of {row.username!r} revoked ({_when(row.revoked_ms)} UTC)")
