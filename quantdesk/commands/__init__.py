"""The ``quantdesk`` command: one typer app made of thin sub-apps, one module each.

==================  ==================================================================
module              commands
==================  ==================================================================
``platform``        ``run``, ``serve``, ``worker``
``data``            ``backfill``, ``import``, ``universe``
``db``              ``config``, ``db migrate``, ``db status``
``capture``         ``replay``, ``export``
``ingest``          ``ingest finnhub``
``sentiment``       ``sentiment mock | train | score``
``jobs``            ``jobs list | run | history | set``
``users``           ``users list | set-password``
``keys``            ``keys create | list | revoke``
``backtest``        ``backtest``
``model``           ``model train | evaluate | list | promote | rollback | predict |
                    import-sample``
==================  ==================================================================

Each command parses its options, then calls the packages; heavy libraries are
imported inside the command that needs them, so ``quantdesk --help`` starts fast.
"""

from __future__ import annotations

import typer

from quantdesk.commands import (
    backtest,
    capture,
    data,
    db,
    ingest,
    jobs,
    keys,
    model,
    platform,
    sentiment,
    users,
)
from quantdesk.commands._help import hide_flag_types

hide_flag_types()  # no "<bool>" after plain flags in --help

app = typer.Typer(
    name="quantdesk",
    help="Self-hosted, real-time quantitative stock platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database: migrations and status.", no_args_is_help=True)
db_app.command("migrate")(db.db_migrate)
db_app.command("status")(db.db_status)
app.add_typer(db_app, name="db")
app.add_typer(sentiment.app, name="sentiment", help="Tweet sentiment: mock, train, score.")
app.add_typer(ingest.app, name="ingest", help="Live market data into the store (finnhub).")
app.add_typer(users.app, name="users", help="API users: list, set-password.")
for _sub in (platform.app, data.app, capture.app, backtest.app):
    app.add_typer(_sub)
app.command()(db.config)
app.add_typer(jobs.app, name="jobs", help="Scheduled jobs: list, run, history, set.")
app.add_typer(keys.app, name="keys", help="API keys: create, list, revoke.")
app.add_typer(model.app, name="model")


def main() -> None:  # pragma: no cover - console entry
    app()
