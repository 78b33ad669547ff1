"""``quantdesk run``, ``serve`` and ``worker``: the platform's processes."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from quantdesk.commands._common import MarketOpt, _fail, _open, _safe_url, _settings
from quantdesk.errors import QuantdeskError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.command()
def run(
    port: Annotated[
        int | None, typer.Option(help="API port (default QUANTDESK_API_PORT, 8000)")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="API address (default QUANTDESK_API_HOST)")
    ] = None,
    market: MarketOpt = None,
    clock: Annotated[
        str, typer.Option(help="virtual: continue the history, skip closed hours; wall: real time")
    ] = "virtual",
    speed: Annotated[float | None, typer.Option(help="virtual clock: N x real time")] = None,
    test: Annotated[
        bool, typer.Option("--test", help="ignore sessions: trade continuously")
    ] = False,
    days: Annotated[
        int | None, typer.Option(help="days to backfill when the store is empty")
    ] = None,
    api: Annotated[
        bool, typer.Option(help="serve the API (use --no-api for the market only)")
    ] = True,
    source: Annotated[
        str, typer.Option(help="simulator (default) or finnhub (live trades; needs --symbols)")
    ] = "simulator",
    symbols: Annotated[
        str | None, typer.Option(help="with --source finnhub: e.g. AAPL,GOOGL,TSLA")
    ] = None,
    tweets: Annotated[
        str | None,
        typer.Option(
            help="tweets into sentiment factors: mock, file:PATH (JSON lines, replayed in "
            "event time), http (Twitter v2 filtered stream; token from "
            "QUANTDESK_TWITTER_BEARER_TOKEN) or none; default QUANTDESK_TWEETS (mock)"
        ),
    ] = None,
) -> None:
    """Run the whole platform: backfill if empty, live simulated market, bars, tweets, API."""
    from quantdesk.runtime.embedded import EmbeddedRuntime, serve_platform

    if clock not in ("virtual", "wall"):
        raise _fail(ValueError(f"--clock: use virtual or wall (got {clock!r})"))
    if source not in ("simulator", "finnhub"):
        raise _fail(ValueError(f"--source: use simulator or finnhub (got {source!r})"))
    if source == "finnhub":
        if tweets is not None:
            raise _fail(
                ValueError("--tweets: only with --source simulator (Finnhub runs read no tweets)")
            )
        _run_finnhub(port, host, symbols, api)
        return
    try:
        settings = _settings(
            api_port=port, api_host=host, backfill_days=days, market=market, tweets=tweets
        )
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        store = _open(settings)
        typer.echo(f"quantdesk: store {_safe_url(settings.resolved_database_url)}")
        runtime = EmbeddedRuntime(
            settings, store, clock=clock, speed=speed, test_mode=test, echo=typer.echo
        )
        try:
            runtime.prepare()
            asyncio.run(serve_platform(runtime, settings.api_host, settings.api_port, api=api))
        finally:
            store.close()
        typer.echo("Stopped cleanly.")
    except QuantdeskError as exc:
        raise _fail(exc) from None


def _run_finnhub(port: int | None, host: str | None, symbols: str | None, api: bool) -> None:
    from quantdesk.runtime.embedded import serve_finnhub

    if not symbols:
        raise _fail(ValueError("--symbols: give the symbols to stream, e.g. AAPL,GOOGL,TSLA"))
    try:
        settings = _settings(api_port=port, api_host=host)
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        store = _open(settings)
        wanted = [s.strip().upper() for s in symbols.split(",") if s.strip()]
        typer.echo(f"quantdesk: live Finnhub trades for {', '.join(wanted)}")
        try:
            asyncio.run(
                serve_finnhub(
                    settings,
                    store,
                    wanted,
                    settings.api_host,
                    settings.api_port,
                    api=api,
                    echo=typer.echo,
                )
            )
        finally:
            store.close()
        typer.echo("Stopped cleanly.")
    except QuantdeskError as exc:
        raise _fail(exc) from None


@app.command()
def worker(
    group: Annotated[
        str, typer.Option(help="consumer group shared by all workers")
    ] = "quantdesk-stream",
    market: MarketOpt = None,
    test: Annotated[
        bool, typer.Option("--test", help="bars without sessions (as run --test)")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="serve Prometheus /metrics on this port (QUANTDESK_WORKER_METRICS_PORT)"),
    ] = None,
) -> None:
    """Process trades and quotes from Kafka as one member of the stream group (scale-out)."""
    from quantdesk.runtime.worker import run_worker

    try:
        settings = _settings(market=market, worker_metrics_port=metrics_port)
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        run_worker(settings, group=group, market=market, test_mode=test, echo=typer.echo)
    except QuantdeskError as exc:
        raise _fail(exc) from None


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="API port")] = None,
    host: Annotated[str | None, typer.Option(help="API address")] = None,
) -> None:
    """Serve the API over the configured store, without the live market."""
    from quantdesk.api.app import create_app
    from quantdesk.runtime.server import serve_api

    try:
        settings = _settings(api_port=port, api_host=host)
        store = _open(settings)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    try:
        serve_api(create_app(store, settings), settings.api_host, settings.api_port)
    finally:
        store.close()
