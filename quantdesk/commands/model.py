"""``quantdesk model ...``: train, evaluate, list, promote, roll back, predict, import samples.

Thin: parses options, then calls :mod:`quantdesk.models`. Nothing heavy is
imported at module import (the CLI starts fast); PyTorch, scikit-learn and
the boosting libraries load only inside the command that needs them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from quantdesk.errors import QuantdeskError

app = typer.Typer(
    help="Predictions: train, evaluate (walk-forward beside baselines), versions, predict.",
    no_args_is_help=True,
)

DatasetOpt = Annotated[str, typer.Option("--dataset", help="morning (seed B) or daily")]
SymbolsOpt = Annotated[
    str | None, typer.Option("--symbols", help="comma-separated; default every stored stock")
]
StartOpt = Annotated[str | None, typer.Option("--start", help="first day, YYYY-MM-DD")]
EndOpt = Annotated[str | None, typer.Option("--end", help="last day, YYYY-MM-DD")]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        help="model parameter KEY=VALUE (JSON value), repeatable; MODEL.KEY=VALUE for one model",
    ),
]


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise QuantdeskError(f"{option}: not a date YYYY-MM-DD (got {value!r})") from None


def _symbols(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [s.strip() for s in value.split(",") if s.strip()]


def _params(values: list[str] | None, model: str) -> dict[str, Any]:
    """``--param`` values for ``model``: ``KEY=VALUE`` (every model) or ``MODEL.KEY=VALUE``."""
    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise QuantdeskError(f"--param: use KEY=VALUE (got {item!r})")
        owner, dot, name = key.rpartition(".")
        if dot and owner != model:
            continue
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            out[name] = raw
    return out


def _settings() -> Any:
    from quantdesk.config import load_settings

    return load_settings()


def _model_defaults(name: str, settings: Any) -> dict[str, Any]:
    """Settings that fill a model's parameters (sequence length and epochs of the networks)."""
    from quantdesk.models.base import model_class

    cls = model_class(name)
    if cls.kind == "sequence":
        return {"seq_len": settings.model_seq_len, "epochs": settings.model_epochs}
    return {}


@contextmanager
def _registry(settings: Any) -> Iterator[tuple[Any, Any]]:
    from quantdesk.models.registry import ModelRegistry
    from quantdesk.storage import open_store
    from quantdesk.storage.sql import engine_for

    store = open_store(settings.resolved_database_url)
    engine = getattr(store, "engine", None) or engine_for(settings.resolved_database_url)
    try:
        yield store, ModelRegistry(engine, settings.resolved_model_dir)
    finally:
        store.close()


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    """A rich progress bar; yields ``update(stage, done, total)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"{label}: {stage}", completed=done, total=total)

        yield update


@app.command("train")
def train_cmd(
    model: Annotated[str, typer.Option("--model", help="model name (quantdesk model list)")],
    dataset: DatasetOpt = "morning",
    start: StartOpt = None,
    end: EndOpt = None,
    symbols: SymbolsOpt = None,
    incremental: Annotated[
        bool, typer.Option("--incremental", help="continue from the newest version, new days only")
    ] = False,
    tune: Annotated[
        bool, typer.Option("--tune", help="Optuna search first (QUANTDESK_MODEL_TUNE_TRIALS)")
    ] = False,
    promote: Annotated[
        bool, typer.Option("--promote", help="make it champion if it beats every baseline")
    ] = False,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    param: ParamOpt = None,
) -> None:
    """Train a model on stored bars and store it as a new version (alias challenger)."""
    from quantdesk.models import service

    try:
        settings = _settings()
        params = {**_model_defaults(model, settings), **_params(param, model)}
        with _registry(settings) as (store, registry), _progress(f"training {model}") as bar:
            result = service.train(
                store,
                registry,
                model,
                dataset=dataset,
                symbols=_symbols(symbols),
                start=_date(start, "--start"),
                end=_date(end, "--end"),
                incremental=incremental,
                params=params,
                seed=seed,
                market=settings.market,
                promote=promote,
                tune_trials=settings.model_tune_trials if tune else 0,
                progress=bar,
            )
    except QuantdeskError as exc:
        raise _fail(exc) from None
    row = result.row
    parent = f", parent v{row.parent_version}" if row.parent_version else ""
    typer.echo(
        f"{row.name} v{row.version}: {row.dataset} {row.data_start}..{row.data_end},"
        f" {len(row.symbols)} symbols{parent}, {result.seconds:.1f}s; {result.note}"
    )
    if result.tuned:
        typer.echo(f"tuned parameters: {json.dumps(result.tuned, sort_keys=True)}")
    hold = row.metrics
    if row.name in hold and "total_return" in hold[row.name]:  # a trading agent
        for name in (row.name, "buy_and_hold", "random", "t1"):
            typer.echo(f"  holdout {name:<12} return {_pct(hold[name]['total_return'])}")
    elif row.name in hold:
        for name in (row.name, "naive", "mean", "up"):
            m = hold[name]
            typer.echo(
                f"  holdout {name:<12} direction {_pct(m['direction_accuracy'])}"
                f"  MAE {_num(m['mae'])}"
            )


def _pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{100 * x:5.1f}%"


def _num(x: float | None, digits: int = 5) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


@app.command("evaluate")
def evaluate_cmd(
    model: Annotated[
        str, typer.Option("--model", help="a model, a comma-separated list, or all")
    ] = "all",
    dataset: DatasetOpt = "morning",
    control: Annotated[
        str | None,
        typer.Option("--control", help="random (random walk) or planted (planted signal)"),
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the table here")] = None,
    symbols: SymbolsOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    min_train: Annotated[int, typer.Option(help="days before the first test day")] = 60,
    retrain_days: Annotated[
        int | None, typer.Option(help="retrain every N days (QUANTDESK_MODEL_RETRAIN_DAYS)")
    ] = None,
    top_k: Annotated[int, typer.Option(help="stocks in the long top-k portfolio")] = 3,
    stocks: Annotated[int, typer.Option(help="controls: simulated stocks")] = 20,
    days: Annotated[int, typer.Option(help="controls: simulated trading days")] = 250,
    beta: Annotated[float, typer.Option(help="planted control: signal strength")] = 0.5,
    seed: Annotated[int, typer.Option(help="random seed (models and controls)")] = 0,
    param: ParamOpt = None,
    store_report: Annotated[
        bool,
        typer.Option(
            "--store/--no-store", help="keep the report in the database (the dashboard's Models)"
        ),
    ] = True,
) -> None:
    """Walk-forward evaluation of models beside the naive baselines (naive, mean, up)."""
    from quantdesk.models.base import BASELINES, trainable_names
    from quantdesk.models.evaluation import EvalConfig, evaluate

    try:
        settings = _settings()
        names = trainable_names() if model == "all" else _symbols(model) or []
        params = {
            n: {**_model_defaults(n, settings), **_params(param, n)}
            for n in names
            if n not in BASELINES
        }
        config = EvalConfig(
            min_train_days=min_train,
            retrain_days=retrain_days or settings.model_retrain_days,
            top_k=top_k,
            seed=seed,
            params=params,
        )
        if control is not None:
            from quantdesk.models.datasets.controls import control_dataset

            data = control_dataset(
                control, dataset, n_stocks=stocks, n_days=days, seed=seed + 7, beta=beta
            )
        else:
            from quantdesk.models.datasets import load_dataset
            from quantdesk.storage import open_store

            with open_store(settings.resolved_database_url) as store:
                data = load_dataset(
                    store,
                    dataset,
                    symbols=_symbols(symbols),
                    start=_date(start, "--start"),
                    end=_date(end, "--end"),
                    market=settings.market,
                )
        with _progress("evaluating") as bar:
            report = evaluate(data, names, config, progress=bar, control=control)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    _print_report(report)
    doc = report.to_json()
    if store_report:
        try:
            from quantdesk.storage.models import EvaluationRepository

            with _registry(settings) as (_store, registry):
                EvaluationRepository(registry.engine).add(doc)
        except QuantdeskError as exc:
            raise _fail(exc) from None
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        typer.echo(f"wrote {json_path}")
    leaks = report.leaks()
    if control == "random" and leaks:
        for n in leaks:
            m = report.models[n]
            lo, hi = m["direction_accuracy_ci"]
            typer.secho(
                f"PROBABLE LEAK: {n} predicts a random walk's direction"
                f" {_pct(m['direction_accuracy'])} (95% interval {_pct(lo)}..{_pct(hi)},"
                " outside 50%): it sees the future somewhere",
                fg=typer.colors.RED,
                bold=True,
                err=True,
            )
        raise typer.Exit(code=1)


@app.command("evaluate-agents")
def evaluate_agents_cmd(
    model: Annotated[str, typer.Option("--model", help="ppo, dqn or both (ppo,dqn)")] = "ppo,dqn",
    control: Annotated[
        str | None,
        typer.Option("--control", help="random (random walk) or planted (planted signal)"),
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the table here")] = None,
    symbols: SymbolsOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    test_fraction: Annotated[float, typer.Option(help="last share of the days traded")] = 0.3,
    stocks: Annotated[int, typer.Option(help="controls: simulated stocks")] = 10,
    days: Annotated[int, typer.Option(help="controls: simulated trading days")] = 250,
    seed: Annotated[int, typer.Option(help="random seed (agents and controls)")] = 0,
    param: ParamOpt = None,
) -> None:
    """Trading agents out of sample beside buy-and-hold, a random agent and t1 (daily data)."""
    from quantdesk.models.rl.evaluation import evaluate_agents, format_agent_table

    try:
        settings = _settings()
        names = _symbols(model) or []
        params = {n: _params(param, n) for n in names}
        if control is not None:
            from quantdesk.models.datasets.controls import control_dataset

            data = control_dataset(control, "daily", n_stocks=stocks, n_days=days, seed=seed + 7)
        else:
            from quantdesk.models.datasets import load_dataset
            from quantdesk.storage import open_store

            with open_store(settings.resolved_database_url) as store:
                data = load_dataset(
                    store,
                    "daily",
                    symbols=_symbols(symbols),
                    start=_date(start, "--start"),
                    end=_date(end, "--end"),
                    market=settings.market,
                )
        with _progress("training agents") as bar:
            report = evaluate_agents(
                data,
                names,
                params=params,
                seed=seed,
                test_fraction=test_fraction,
                market=settings.market,
                control=control,
                progress=bar,
            )
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(format_agent_table(report))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        doc = json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"
        json_path.write_text(doc, encoding="utf-8")
        typer.echo(f"wrote {json_path}")


def _print_report(report: Any) -> None:
    from quantdesk.models.evaluation import format_table

    typer.echo(format_table(report))


@app.command("list")
def list_cmd(
    model: Annotated[str | None, typer.Option("--model", help="only this model")] = None,
) -> None:
    """Model versions with their aliases, data range and holdout accuracy."""
    from quantdesk.models.base import MODELS

    try:
        settings = _settings()
        with _registry(settings) as (_store, registry):
            rows = registry.versions.list_versions(model)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(f"models: {', '.join(MODELS.names())}")
    if not rows:
        typer.echo("no trained versions yet: quantdesk model train --model lstm")
        return
    for r in rows:
        created = dt.datetime.fromtimestamp(r.created_at / 1000, tz=dt.UTC)
        hold = r.metrics.get(r.name, {})
        aliases = f" [{', '.join(r.aliases)}]" if r.aliases else ""
        parent = f" parent v{r.parent_version}" if r.parent_version else ""
        typer.echo(
            f"{r.name} v{r.version}{aliases}: {r.dataset} {r.data_start}..{r.data_end}"
            f" {len(r.symbols)} symbols, holdout direction"
            f" {_pct(hold.get('direction_accuracy'))}, created {created:%Y-%m-%d %H:%M}Z{parent}"
        )


@app.command("promote")
def promote_cmd(
    name: Annotated[str, typer.Argument(help="model name")],
    version: Annotated[int, typer.Argument(help="version to promote")],
    alias: Annotated[str, typer.Option(help="champion or challenger")] = "champion",
) -> None:
    """Point an alias (champion by default) at a version."""
    try:
        with _registry(_settings()) as (_store, registry):
            previous = registry.promote(name, version, alias)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    was = f" (was v{previous})" if previous is not None else ""
    typer.echo(f"{name} {alias} -> v{version}{was}")


@app.command("rollback")
def rollback_cmd(
    name: Annotated[str, typer.Argument(help="model name")],
    alias: Annotated[str, typer.Option(help="champion or challenger")] = "champion",
) -> None:
    """Point an alias back at the version it held before its last change."""
    try:
        with _registry(_settings()) as (_store, registry):
            version = registry.rollback(name, alias)
    except QuantdeskError as exc:
        raise _fail(exc) from None
    typer.echo(f"{name} {alias} -> v{version} (rolled back)")


@app.command("predict")
def predict_cmd(
    model: Annotated[str, typer.Option("--model", help="model name")],
    symbols: SymbolsOpt = None,
    version: Annotated[
        str | None, typer.Option(help="version or alias; default champion, else newest")
    ] = None,
) -> None:
    """Predict each stock's next trading day and store the predictions.

    Without ``--version`` the champion and the challenger (A/B) predict, the outcomes
    of earlier predictions are scored first, and with ``QUANTDESK_BUS=kafka`` the
    predictions are published for the running platform's ``/ws/ai-predictions``."""
    from quantdesk.models import service
    from quantdesk.models.serving import ModelServer

    try:
        settings = _settings()
        with _registry(settings) as (store, registry):
            if version is not None:
                rows = service.predict(
                    store,
                    registry,
                    model,
                    symbols=_symbols(symbols),
                    ref=version,
                    market=settings.market,
                )
                made = {version: rows}
            else:
                bus = None
                if settings.bus == "kafka":
                    from quantdesk.bus import bus_from_settings

                    bus = bus_from_settings(settings)
                    bus.start()
                server = ModelServer(store, registry, bus=bus, market=settings.market)
                try:
                    scored = server.track_outcomes(model)
                    made = server.predict(model, symbols=_symbols(symbols))
                finally:
                    if bus is not None:
                        bus.close()
                if scored:
                    typer.echo(f"scored {scored} earlier predictions against their outcomes")
    except QuantdeskError as exc:
        raise _fail(exc) from None
    for alias, rows in made.items():
        _print_predictions(alias, rows)


def _print_predictions(alias: str, rows: list[Any]) -> None:
    for r in rows:
        opn = f" open {r.predicted_open:.4f}" if r.predicted_open is not None else ""
        typer.echo(
            f"{r.symbol} {r.target_day}:{opn} close {r.predicted_close:.4f}"
            f" return {100 * r.predicted_return:+.3f}% ({r.model} v{r.version} {alias})"
        )


@app.command("import-sample")
def import_sample_cmd(
    name: Annotated[str, typer.Argument(help="bokeh (AAPL GOOG IBM MSFT), arch (SPX IXIC), all")],
) -> None:
    """Import real daily bars shipped in PyPI packages (the samples extra)."""
    from quantdesk.models.datasets.samples import SAMPLES, sample_bars, sample_metas
    from quantdesk.storage import open_store

    names = list(SAMPLES) if name == "all" else [name]
    try:
        settings = _settings()
        with open_store(settings.resolved_database_url) as store:
            for n in names:
                bars = sample_bars(n)
                store.upsert_metadata(sample_metas(n))
                store.upsert_bars(bars)
                first = dt.datetime.fromtimestamp(int(bars["time"].min()) / 1000, tz=dt.UTC)
                last = dt.datetime.fromtimestamp(int(bars["time"].max()) / 1000, tz=dt.UTC)
                typer.echo(
                    f"{n}: {len(bars)} daily bars of {', '.join(sorted(bars['symbol'].unique()))}"
                    f" {first:%Y-%m-%d}..{last:%Y-%m-%d}"
                )
    except QuantdeskError as exc:
        raise _fail(exc) from None
