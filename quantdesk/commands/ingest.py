"""``quantdesk ingest finnhub --symbols AAPL,GOOGL,TSLA``: live Finnhub trades into the store.

The same runner as ``quantdesk run --source finnhub --no-api``
(:class:`quantdesk.runtime.runner.Runner`), with the Finnhub wording kept.
"""

from __future__ import annotations

from typing import Annotated

import typer

from quantdesk.commands._common import _fail, _safe_url, _settings
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
    import asyncio

    from quantdesk.runtime.platform import serve_platform
    from quantdesk.runtime.runner import Runner
    from quantdesk.sources.finnhub.source import finnhub_token, parse_symbols
    from quantdesk.storage import open_store

    try:
        settings = _settings(finnhub_market_hours=market_hours, source="finnhub", tweets="none")
        chosen = parse_symbols(symbols)  # the option first, then the environment
        finnhub_token()
        store = open_store(settings.resolved_database_url)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    url = _safe_url(settings.resolved_database_url)
    typer.echo(f"Finnhub: streaming {', '.join(chosen)} into {url} (Ctrl-C stops)")
    try:
        runner = Runner(settings, store, symbols=chosen, echo=lambda _m: None)
        runner.prepare()
        asyncio.run(serve_platform(runner, settings.api_host, settings.api_port, api=False))
    except QuantdeskError as exc:
        raise _fail(exc) from None
    finally:
        store.close()
    src = runner.source.stats()
    sink = runner.sink
    typer.echo(
        f"Stopped: {src.get('trades_published', 0):,} trades live, "
        f"{src.get('replaced_trades', 0):,} in minutes left to REST, {sink.bars_written:,} bars "
        f"written ({getattr(sink, 'rest_bars_written', 0):,} from REST), "
        f"{sum(src.get('bad_frames', {}).values())} bad frames, "
        f"{src.get('connects', 0)} connection(s)"
    )
