"""``quantdesk backfill``, ``import`` and ``universe``: bars and stocks into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quantdesk.commands._common import MarketOpt, _fail, _open, _settings
from quantdesk.errors import QuantdeskError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


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

    from quantdesk.backfill.run import run_backfill

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
    from quantdesk.backfill.importer import import_file

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
    from quantdesk.universe import universe_for

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
