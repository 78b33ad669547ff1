"""``quantdesk backfill``, ``import`` and ``universe``: bars and stocks into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quantdesk.commands._common import MarketOpt, _fail, _open, _require, _settings
from quantdesk.errors import DataError, QuantdeskError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.command()
def backfill(
    days: Annotated[
        int | None,
        typer.Option(
            help="the last N completed trading days (default 30; weekends/holidays skipped)"
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="first day YYYY-MM-DD (exchange date): the trading days from it"),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            help="last day YYYY-MM-DD, inclusive (with --start; default: the last "
            "completed trading day)"
        ),
    ] = None,
    symbol: Annotated[str | None, typer.Option(help="only this symbol")] = None,
    symbols: Annotated[
        str | None, typer.Option(help="only these symbols, comma-separated: A,B,C")
    ] = None,
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
    """Store 1m bars plus 5m/15m/30m/60m/120m/1d (simulated or real): the last N trading
    days (--days), or the trading days between two dates (--start, --end)."""
    from rich.progress import Progress

    from quantdesk.backfill.run import parse_day, run_backfill

    if days is not None:
        _require(days >= 1, "--days", f"must be >= 1 (got {days})")
        _require(
            start is None and end is None,
            "--days",
            "give either --days N or --start/--end dates, not both",
        )
    _require(not (symbol and symbols), "--symbols", "give either --symbol or --symbols, not both")
    _check_source(source)
    wanted: str | list[str] | None = symbol
    if symbols is not None:
        wanted = [x.strip() for x in symbols.split(",") if x.strip()]
        _require(bool(wanted), "--symbols", f"no symbol in {symbols!r} (e.g. AAPL,MSFT)")
    try:
        first = parse_day(start, "--start") if start is not None else None
        last = parse_day(end, "--end") if end is not None else None
        settings = _settings(market=market)
        if last is not None and first is None:
            raise DataError("--end: give --start too (or --days N for the last N trading days)")
        if first is not None:  # a bad range is refused before the store is opened
            from quantdesk.backfill.run import dated_window
            from quantdesk.calendars import get_calendar

            dated_window(get_calendar(market or settings.market), first, last)
        store = _open(settings)
        with store, Progress(transient=True) as bar:
            task = bar.add_task("backfill", total=None)
            report = run_backfill(
                store,
                settings,
                days=30 if days is None else days,
                market=market,
                symbol=wanted,
                clear=clear,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                source=source,
                start=first,
                end=last,
            )
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"{report.symbols} symbols x {report.days} days ({report.first_day} .. {report.last_day}): "
        f"{report.bars_1m:,} 1m bars, {report.bars_total:,} bars in all, {report.seconds:.1f} s"
    )
    if report.continued:
        typer.echo(f"  continued the stored path of {report.continued} symbol(s)")
    if report.up_to_date:
        typer.echo(
            f"  {report.up_to_date} symbol(s) already hold these days: left as stored "
            "(--clear replaces them)"
        )
    for sym, provider in report.providers.items():
        typer.echo(f"  {sym}: from {provider}")
    for line in report.failures:
        typer.echo(f"  no history for {line}", err=True)
    if report.failures and not report.providers:
        raise typer.Exit(1)


def _check_source(source: str) -> None:
    from quantdesk.sources.history import provider_names

    names = ["simulator", "auto", *provider_names()]
    _require(source in names, "--source", f"use one of {', '.join(names)} (got {source!r})")


def check_import_options(interval: str, tz: str, calendar: str | None) -> None:
    """``--interval``, ``--tz`` and ``--calendar`` of ``import``, before the file is read."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from quantdesk.calendars.sessions import MARKET_CALENDARS
    from quantdesk.domain import INTERVALS, normalize_interval
    from quantdesk.errors import DataError

    try:
        normalize_interval(interval)
    except DataError:
        _require(False, "--interval", f"use one of {', '.join(INTERVALS)} (got {interval!r})")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        _require(False, "--tz", f"not a time zone such as UTC or Asia/Shanghai (got {tz!r})")
    if calendar is not None:
        known = sorted({*MARKET_CALENDARS.values(), "XSHE"})
        _require(
            calendar.upper() in known,
            "--calendar",
            f"use one of {', '.join(known)} (got {calendar!r})",
        )


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
    from quantdesk.backfill.importer import import_file

    check_import_options(interval, tz, calendar)
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
                calendar=calendar.upper() if calendar else None,
            )
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"imported {report.rows:,} bars of {report.symbols} symbol(s)"
        + (f", {report.rolled_up:,} rolled-up bars" if report.rolled_up else "")
    )


@app.command()
def universe(market: MarketOpt = None) -> None:
    """List the stocks of the market's universe (a table; long names wrap in their column)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from quantdesk.universe import universe_for

    try:
        settings = _settings(market=market)
        metas = universe_for(settings, market)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    calendars = ", ".join(sorted({m.calendar for m in metas}))
    table = Table(title=f"{len(metas)} stocks ({calendars})", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("symbol", no_wrap=True)
    table.add_column("name", overflow="fold", min_width=12)
    table.add_column("sector", overflow="fold", min_width=8)
    table.add_column("base price", justify="right", no_wrap=True)
    table.add_column("volatility", justify="right", no_wrap=True)
    table.add_column("base volume", justify="right", no_wrap=True)
    for m in metas:
        table.add_row(
            m.symbol,
            m.name,
            m.sector,
            f"{m.base_price:,.2f}",
            f"{m.volatility:.0%}",
            f"{m.base_volume:,.0f}",
        )
    console = Console()
    if not console.is_terminal:  # piped: the table's own width, not 80 columns
        console = Console(width=200)
    console.print(table)
