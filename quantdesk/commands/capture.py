"""CLI commands ``quantdesk replay`` and ``quantdesk export`` (registered by quantdesk.commands)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

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


def parse_time(text: str | None, option: str) -> int | None:
    """ISO 8601 date or date-time (UTC unless it has an offset) -> epoch ms."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise DataError(f"{option}: not an ISO 8601 date or time (got {text!r})") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


@app.command()
def replay(
    path: Annotated[Path, typer.Argument(help="capture folder (data/ticks or a part of it)")],
    speed: Annotated[float, typer.Option(help="N x event time; 0 = as fast as possible")] = 0.0,
    market: Annotated[str | None, typer.Option(help="cn or us (sessions for the bars)")] = None,
    symbol: Annotated[list[str] | None, typer.Option(help="only these symbols")] = None,
    test: Annotated[bool, typer.Option("--test", help="bars without sessions")] = False,
) -> None:
    """Republish captured trades and books onto the bus in event-time order (with heartbeats).

    With the in-memory bus the bars are also computed and stored here.
    """
    from quantdesk.bus import bus_from_settings
    from quantdesk.calendars import get_calendar
    from quantdesk.config import load_settings
    from quantdesk.runtime.consumer import StreamConsumer
    from quantdesk.runtime.pipeline import Output, StreamProcessor
    from quantdesk.runtime.sink import StoreSink
    from quantdesk.sources.replay.reader import Replayer, read_events

    if speed < 0:
        raise _fail(DataError(f"--speed: must be >= 0 (got {speed})"))
    try:
        settings = load_settings(market=market)
        events = read_events(path, symbols=set(symbol) if symbol else None)
        bus = bus_from_settings(settings)
        bus.start()
        consumer = None
        store = None
        if settings.bus == "memory":
            store = _open(settings)
            calendar = None if test else get_calendar(settings.market)
            processor = StreamProcessor(calendar, None)
            consumer = StreamConsumer(bus, processor, StoreSink(store), checkpoint_seconds=None)

        def drain(_until: int) -> None:
            if consumer is not None:
                while consumer.poll_once(timeout=0.0):
                    pass

        player = Replayer(events, bus.send, speed=speed, after_slice=drain)
        sent = player.run()
        if consumer is not None:
            out = Output()
            consumer.processor.flush(out)
            consumer.emit(out)
            consumer.close(final_checkpoint=False)
        bus.flush()
        bus.close()
        if store is not None:
            store.close()
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(f"replayed {sent:,} events ({player.trades:,} trades, {player.books:,} books)")


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
    from quantdesk.config import load_settings
    from quantdesk.export import export_bars

    try:
        settings = load_settings()
        t0, t1 = parse_time(start, "--start"), parse_time(end, "--end")
        with _open(settings) as store:
            symbols = symbol or [m.symbol for m in store.list_metadata()]
            report = export_bars(
                store, path, symbols=symbols, interval=interval, start=t0, end=t1, fmt=format
            )
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(f"exported {report.rows:,} bars to {', '.join(str(p) for p in report.paths[:3])}")
