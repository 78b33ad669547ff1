"""``quantdesk run``, ``serve`` and ``worker``: the platform's processes."""

from __future__ import annotations

from typing import Annotated

import typer

from quantdesk.commands._common import MarketOpt, _fail, _open, _require, _safe_url, _settings
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
    speed: Annotated[
        float | None, typer.Option(help="virtual clock: N x real time; 0 = as fast as possible")
    ] = None,
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
        str | None,
        typer.Option(
            help="simulator (default), finnhub (live trades; token from FINNHUB_TOKEN) or "
            "replay:PATH (a tick capture); default QUANTDESK_SOURCE"
        ),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(help="e.g. AAPL,GOOGL,TSLA (default: the source's universe)"),
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
    """Run the whole platform: a live source (simulated market by default), bars, factors,
    signals, tweets, storage and the API."""
    import asyncio

    from quantdesk.runtime.platform import serve_platform
    from quantdesk.runtime.runner import Runner

    _require(speed is None or speed >= 0, "--speed", f"must be >= 0 (got {speed})")
    _require(clock in ("virtual", "wall"), "--clock", f"use virtual or wall (got {clock!r})")
    try:
        settings = _settings(
            api_port=port,
            api_host=host,
            backfill_days=days,
            market=market,
            tweets=tweets,
            source=source,
            symbols=symbols,
        )
        store = _open(settings)
        typer.echo(f"quantdesk: store {_safe_url(settings.resolved_database_url)}")
        try:
            runtime = Runner(
                settings, store, clock=clock, speed=speed, test_mode=test, echo=typer.echo
            )
            runtime.prepare()
            asyncio.run(serve_platform(runtime, settings.api_host, settings.api_port, api=api))
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

    _require(bool(group.strip()), "--group", "give the consumer group's name")
    try:
        settings = _settings(market=market, worker_metrics_port=metrics_port)
        run_worker(settings, group=group, market=market, test_mode=test, echo=typer.echo)
    except QuantdeskError as exc:
        raise _fail(exc) from None


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="API port")] = None,
    host: Annotated[str | None, typer.Option(help="API address")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="API processes on the one port (SO_REUSEPORT), each a reader of the bus; "
            "default QUANTDESK_API_WORKERS (1)"
        ),
    ] = None,
) -> None:
    """Serve the API over the configured store and bus, without a market of its own.

    With QUANTDESK_BUS=kafka it shows live what `quantdesk worker` processes
    produce; with the in-process bus, stored data only.
    """
    from quantdesk.runtime import server

    try:
        overrides = {"api_port": port, "api_host": host, "api_workers": workers}
        settings = _settings(**overrides)
        if settings.api_workers > 1:
            code = server.serve_workers(
                settings,
                settings.api_workers,
                overrides={k: v for k, v in overrides.items() if v is not None},
                echo=typer.echo,
            )
            if code:
                raise typer.Exit(code)
            return
        api, close = server.build_app(settings, typer.echo)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    try:
        server.serve_api(
            api,
            settings.api_host,
            settings.api_port,
            ws_max_size=settings.ws_max_frame_bytes,
        )
    finally:
        close()
