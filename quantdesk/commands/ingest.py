"""``quantdesk ingest finnhub --symbols AAPL,GOOGL,TSLA``: live Finnhub trades into the store."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from quantdesk.errors import QuantdeskError

app = typer.Typer(help="Ingest live market data.", no_args_is_help=True)


@app.callback()
def ingest() -> None:
    """Ingest live market data into the store."""


@app.command()
def finnhub(
    symbols: Annotated[
        str, typer.Option("--symbols", help="Comma-separated symbols, e.g. AAPL,GOOGL,TSLA")
    ],
    market_hours: Annotated[
        bool | None,
        typer.Option(
            "--market-hours/--always",
            help="Connect only while XNYS is open (default QUANTDESK_FINNHUB_MARKET_HOURS)",
        ),
    ] = None,
) -> None:
    """Stream Finnhub trades (token from FINNHUB_TOKEN) into bars until Ctrl-C."""
    from quantdesk.config import load_settings
    from quantdesk.sources.finnhub.runner import run_finnhub_ingest
    from quantdesk.sources.finnhub.source import finnhub_token, parse_symbols
    from quantdesk.storage import open_store

    try:
        settings = load_settings(finnhub_market_hours=market_hours)
        token = finnhub_token()
        chosen = parse_symbols(symbols)
        store = open_store(settings.resolved_database_url)
    except QuantdeskError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    typer.echo(f"Finnhub: streaming {', '.join(chosen)} into {_safe_url(store)} (Ctrl-C stops)")
    try:
        report = asyncio.run(run_finnhub_ingest(settings, chosen, store, token=token))
    finally:
        store.close()
    src = report.source
    typer.echo(
        f"Stopped: {src.get('trades_published', 0):,} trades live, "
        f"{src.get('replaced_trades', 0):,} in minutes left to REST, {report.bars_written:,} bars "
        f"written ({report.rest_bars_written:,} from REST), "
        f"{sum(src.get('bad_frames', {}).values())} bad frames, "
        f"{src.get('connects', 0)} connection(s)"
    )


def _safe_url(store: object) -> str:
    url = str(getattr(store, "url", "the store"))
    if "@" in url:  # user:password@host
        scheme, _, rest = url.partition("://")
        url = f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url
