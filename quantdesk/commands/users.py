"""``quantdesk users list`` and ``quantdesk users set-password NAME``: the API's logins.

``set-password`` prompts twice (hidden) on a terminal; otherwise, or with
``--stdin``, it reads the password from the first line of standard input
(``printf '%s\\n' "$PW" | quantdesk users set-password admin``), so a lost
admin password is recovered without touching the database. The
``QUANTDESK_*_PASSWORD`` variables only set a password when the user is
created; ``run``/``serve`` say at start when one is set but ignored.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from quantdesk.commands._common import _fail, _open, _settings
from quantdesk.errors import DataError, QuantdeskError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.command("list")
def list_users() -> None:
    """List the users with their role and creation time (never a password)."""
    import datetime as dt

    from rich.console import Console
    from rich.table import Table

    try:
        settings = _settings()
        with _open(settings) as store:
            users = store.list_users()
    except QuantdeskError as exc:
        raise _fail(exc) from None
    if not users:
        typer.echo("no users yet: `quantdesk run` or `quantdesk serve` creates admin, guest, test")
        return
    table = Table("user", "role", "created (UTC)", box=None, pad_edge=False)
    for user in users:
        created = dt.datetime.fromtimestamp(user.created_at / 1000, tz=dt.UTC)
        table.add_row(user.username, user.role, f"{created:%Y-%m-%d %H:%M:%S}")
    Console(soft_wrap=True).print(table)


@app.command("set-password")
def set_password(
    name: Annotated[str, typer.Argument(help="the user, e.g. admin")],
    stdin: Annotated[
        bool, typer.Option("--stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Set a user's password: prompted (twice, hidden) or read from standard input."""
    from quantdesk.auth import make_hasher
    from quantdesk.auth.users import set_password as store_password

    try:
        settings = _settings()
        if stdin or not sys.stdin.isatty():
            line = sys.stdin.readline()
            password = line[:-1] if line.endswith("\n") else line
            if password.endswith("\r"):
                password = password[:-1]
            if not password:
                raise DataError("password: standard input is empty (give it on the first line)")
        else:
            password = typer.prompt(
                f"New password for {name}", hide_input=True, confirmation_prompt=True
            )
        from quantdesk.storage.audit import cli_identity

        who, where = cli_identity()
        with _open(settings) as store:
            store_password(store, make_hasher(settings), name, password, by=who, client=where)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(f"password of {name!r} changed (tokens already issued stay valid until they expire)")
