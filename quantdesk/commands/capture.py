"""CLI commands ``quantdesk replay`` and ``quantdesk export`` (registered by quantdesk.commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from quantdesk.commands._common import _settings
from quantdesk.errors import DataError, QuantdeskError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _open(settings: Any) -> Any:
    from quantdesk.storage import open_store

    store = open_store(settings.resolved_database_url)
    store.migrate()
    return store


@app.command()
def replay(
    path: Annotated[Path, typer.Argument(help="capture folder (data/ticks or a part of it)")],
    speed: Annotated[float, typer.Option(help="N x event time; 0 = as fast as possible")] = 0.0,
    market: Annotated[str | None, typer.Option(help="cn or us (sessions for the bars)")] = None,
    symbol: Annotated[list[str] | None, typer.Option(help="only these symbols")] = None,
    test: Annotated[bool, typer.Option("--test", help="bars without sessions")] = False,
) -> None:
    """Replay captured trades and books in event-time order (with heartbeats) through the
    runner: bars, factors and signals stored, published on the bus (no API, no tweets;
    `run --source replay:PATH` is the same with both).
    """
    import asyncio

    from quantdesk.runtime.platform import serve_platform
    from quantdesk.runtime.runner import Runner

    if speed < 0:
        raise _fail(DataError(f"--speed: must be >= 0 (got {speed})"))
    try:
        settings = _settings(market=market, source=f"replay:{path}", tweets="none")
        store = _open(settings)
        try:
            runner = Runner(
                settings,
                store,
                symbols=symbol or [],
                speed=speed,
                test_mode=test,
                echo=lambda _m: None,
            )
            runner.prepare()
            asyncio.run(serve_platform(runner, settings.api_host, settings.api_port, api=False))
        finally:
            store.close()
    except QuantdeskError as exc:
        raise _fail(exc) from None
    produced = int(runner.source.stats().get("events", 0))
    typer.echo(
        f"replayed {produced:,} events ({runner.trades_seen:,} trades, {runner.books_seen:,} books)"
    )


def _stored_symbols(store: Any, wanted: list[str] | None) -> list[str]:
    """``--symbol`` values as stored (``600036`` -> ``600036.SH``), or every stored one;
    an unknown one is a NotFoundError naming the nearest (exit 2)."""
    from quantdesk.domain.symbols import has_bars, resolve_symbol

    known = [m.symbol for m in store.list_metadata()]
    if not wanted:
        return known
    return [
        resolve_symbol(s, known, hint="see quantdesk universe", exists=lambda c: has_bars(store, c))
        for s in wanted
    ]


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="Parquet file, or folder for CSV files")],
    format: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    symbol: Annotated[
        list[str] | None, typer.Option(help="symbol(s); default every stored one")
    ] = None,
    interval: Annotated[str, typer.Option(help="1m 5m 15m 30m 60m 120m 1d 1w 1M")] = "1m",
    start: Annotated[str | None, typer.Option(help="from (ISO 8601, UTC by default)")] = None,
    end: Annotated[str | None, typer.Option(help="to, exclusive (ISO 8601)")] = None,
) -> None:
    """Export stored bars as Parquet (one file) or seed-E CSV files (data/raw layout)."""
    from quantdesk.domain import INTERVALS, normalize_interval
    from quantdesk.export import export_bars

    if format not in ("parquet", "csv"):
        raise _fail(DataError(f"--format: use parquet or csv (got {format!r})"))
    try:
        normalize_interval(interval)
    except DataError:
        raise _fail(
            DataError(f"--interval: use one of {', '.join(INTERVALS)} (got {interval!r})")
        ) from None
    try:
        settings = _settings()
        from quantdesk.domain.time import parse_time

        t0, t1 = parse_time(start, "--start"), parse_time(end, "--end")
        with _open(settings) as store:
            symbols = _stored_symbols(store, symbol)
            report = export_bars(
                store, path, symbols=symbols, interval=interval, start=t0, end=t1, fmt=format
            )
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(f"exported {report.rows:,} bars to {', '.join(str(p) for p in report.paths[:3])}")
