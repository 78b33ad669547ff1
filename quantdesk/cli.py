"""The ``quantdesk`` command. Thin: parses options, then calls the packages."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from quantdesk.capture.cli import app as capture_app
from quantdesk.commands.model import app as model_app
from quantdesk.errors import QuantdeskError
from quantdesk.sentiment.cli import app as sentiment_app
from quantdesk.sources.finnhub.cli import app as finnhub_app

app = typer.Typer(
    name="quantdesk",
    help="Self-hosted, real-time quantitative stock platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database: migrations and status.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sentiment_app, name="sentiment", help="Tweet sentiment: mock, train, score.")
app.add_typer(finnhub_app, name="ingest", help="Live market data into the store (finnhub).")
app.add_typer(capture_app)
app.add_typer(model_app, name="model")

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
) -> None:
    """Process trades and quotes from Kafka as one member of the stream group (scale-out)."""
    from quantdesk.runtime.worker import run_worker

    try:
        settings = _settings(market=market)
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


@app.command()
def backfill(
    days: Annotated[
        int, typer.Option(help="trading days to generate (weekends/holidays skipped)")
    ] = 30,
    symbol: Annotated[str | None, typer.Option(help="only this symbol")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="delete the symbols' bars first")] = False,
    market: MarketOpt = None,
    source: Annotated[
        str,
        typer.Option(
            help="simulator, auto (failover over QUANTDESK_HISTORY_SOURCES) or one provider: "
            "akshare, yahoo, alphavantage, tushare, finnhub, local"
        ),
    ] = "simulator",
) -> None:
    """Store N trading days of 1m bars plus 5m/15m/30m/60m/120m/1d (simulated or real)."""
    from rich.progress import Progress

    from quantdesk.ingest.backfill import run_backfill

    try:
        settings = _settings(market=market)
        store = _open(settings)
        with store, Progress(transient=True) as bar:
            task = bar.add_task("backfill", total=None)
            report = run_backfill(
                store,
                settings,
                days=days,
                market=market,
                symbol=symbol,
                clear=clear,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                source=source,
            )
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"{report.symbols} symbols x {report.days} days ({report.first_day} .. {report.last_day}): "
        f"{report.bars_1m:,} 1m bars, {report.bars_total:,} bars in all, {report.seconds:.1f} s"
    )
    for sym, provider in report.providers.items():
        typer.echo(f"  {sym}: from {provider}")
    for line in report.failures:
        typer.echo(f"  no history for {line}", err=True)
    if report.failures and not report.providers:
        raise typer.Exit(1)


@app.command(name="import")
def import_(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet OHLCV file (columns: see README)")],
    symbol: Annotated[
        str | None, typer.Option(help="symbol, if the file has no symbol column")
    ] = None,
    interval: Annotated[
        str, typer.Option(help="interval, if the file has no interval column")
    ] = "1m",
    source: Annotated[
        str | None, typer.Option(help="source tag (default import:<file name>)")
    ] = None,
    tz: Annotated[str, typer.Option(help="time zone of times written without an offset")] = "UTC",
    calendar: Annotated[
        str | None, typer.Option(help="XSHG or XNYS: also roll 1m bars up to 5m ... 1d")
    ] = None,
) -> None:
    """Load a user's OHLCV file; a bad file is rejected whole, with the row number."""
    from quantdesk.ingest.importer import import_file

    try:
        settings = _settings()
        store = _open(settings)
        with store:
            report = import_file(
                store,
                path,
                symbol=symbol,
                interval=interval,
                source=source,
                tz=tz,
                calendar=calendar,
            )
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"imported {report.rows:,} bars of {report.symbols} symbol(s)"
        + (f", {report.rolled_up:,} rolled-up bars" if report.rolled_up else "")
    )


@app.command()
def universe(market: MarketOpt = None) -> None:
    """List the stocks of the market's universe."""
    from quantdesk.sources.catalog import universe_for

    try:
        settings = _settings(market=market)
        metas = universe_for(settings, market)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    for m in metas:
        typer.echo(
            f"{m.symbol:<11} {m.name:<28} {m.sector:<22} "
            f"base {m.base_price:>9.2f}  vol {m.volatility:.0%}"
        )


@app.command()
def config() -> None:
    """Print the effective settings (secrets are never printed)."""
    try:
        settings = _settings()
    except QuantdeskError as exc:
        raise _fail(exc) from None
    for name, value in settings.model_dump().items():
        shown = _safe_url(str(value)) if name == "database_url" else value
        typer.echo(f"QUANTDESK_{name.upper()}={shown}")


@db_app.command("migrate")
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


@db_app.command("status")
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
                from quantdesk.api.routers.klines import iso

                typer.echo(f"last 1m bar: {iso(last)}")
    except QuantdeskError as exc:
        raise _fail(exc) from None


def _safe_url(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def main() -> None:  # pragma: no cover - console entry
    app()
