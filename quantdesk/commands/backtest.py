"""``quantdesk backtest``: run a strategy over stored bars and store the run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from quantdesk.commands._common import _fail
from quantdesk.errors import DataError, QuantdeskError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _predictions(path: Path | None) -> Any:
    if path is None:
        return None
    import pandas as pd

    if not path.is_file():
        raise DataError(f"--predictions: file {path} does not exist")
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # a user's file: one line, whatever the parser says
        raise DataError(f"--predictions: cannot read {path} ({exc})") from None


@app.command("backtest")
def backtest_command(
    strategy: Annotated[
        str, typer.Option(help="t1, signals, buy_and_hold, ma_cross, momentum or a plug-in")
    ] = "t1",
    start: Annotated[str | None, typer.Option(help="first day/time (ISO 8601, UTC)")] = None,
    end: Annotated[str | None, typer.Option(help="end, exclusive (ISO 8601, UTC)")] = None,
    symbols: Annotated[
        str | None, typer.Option(help="comma-separated; default: the market's universe")
    ] = None,
    market: Annotated[str | None, typer.Option(help="cn or us; default QUANTDESK_MARKET")] = None,
    cash: Annotated[float, typer.Option(help="initial cash")] = 1_000_000,
    interval: Annotated[
        str | None, typer.Option(help="bar interval; default: the strategy's (1d, 5m)")
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(help="t1: CSV/Parquet with symbol, target, value, made (epoch ms)"),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="write stats, equity and fills as JSON")
    ] = None,
    save: Annotated[bool, typer.Option(help="store the run (use --no-save to skip)")] = True,
) -> None:
    """Backtest a strategy on stored bars with the live paper broker and risk engine."""
    import orjson

    from quantdesk.backtest import backtest
    from quantdesk.domain.time import parse_time

    try:
        if cash <= 0:
            raise DataError(f"--cash: must be > 0 (got {cash})")
        syms = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
        result = backtest(
            strategy=strategy,
            start=parse_time(start, "--start"),
            end=parse_time(end, "--end"),
            symbols=syms,
            market=market,
            cash=cash,
            interval=interval,
            predictions=_predictions(predictions),
            save=save,
        )
    except QuantdeskError as exc:
        raise _fail(exc) from None
    s = result.stats
    bh = s["buy_and_hold"]
    typer.echo(f"run {result.run_id}: {result.strategy} on {result.market} {result.interval}")
    for key in ("total_return", "annual_return", "max_drawdown"):
        typer.echo(f"  {key:<14} {s[key]:>+10.2%}   buy-and-hold {bh[key]:>+10.2%}")
    typer.echo(f"  {'sharpe':<14} {s['sharpe']:>10.2f}   buy-and-hold {bh['sharpe']:>10.2f}")
    typer.echo(
        f"  trades {s['trades']}, fees {s['fees']:,.2f}, turnover {s['turnover']:.2f},"
        f" win rate {s['win_rate']:.1%}, {result.bars:,} bars"
    )
    for note in dict.fromkeys(result.notes):
        typer.echo(f"  note: {note}")
    if result.denials:
        typer.echo(f"  denied: {dict(result.denials)}")
    if json_path is not None:
        fills = result.fills.assign(time=result.fills["time"].astype("int64") // 1_000_000)
        doc = {
            "run_id": result.run_id,
            "strategy": result.strategy,
            "market": result.market,
            "interval": result.interval,
            "stats": s,
            "settings": result.settings,
            "equity": {
                "time": result.times.tolist(),
                "equity": result.equity.tolist(),
                "buy_and_hold": result.benchmark.tolist(),
            },
            "fills": fills.to_dict(orient="records"),
            "denials": result.denials,
            "notes": result.notes,
        }
        json_path.write_bytes(orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY))
        typer.echo(f"wrote {json_path}")
