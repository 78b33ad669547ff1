"""``quantdesk sentiment``: mock tweets, train the model, score tweets (JSON lines)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from quantdesk.commands._common import _require, _settings
from quantdesk.errors import QuantdeskError

app = typer.Typer(
    help="Tweet sentiment: mock tweets, train the model, score tweets as JSON lines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ModelDirOpt = Annotated[
    Path | None,
    typer.Option("--model-dir", help="default <QUANTDESK_DATA_DIR>/models/sentiment"),
]
BATCH = 2048


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _model_dir(model_dir: Path | None) -> Path:
    if model_dir is not None:
        return model_dir

    return Path(_settings().data_dir) / "models" / "sentiment"


def _universe(market: str | None) -> list[Any]:
    from quantdesk.sources.simulator.universe import default_universe

    if market is None:
        return default_universe("cn") + default_universe("us")
    return default_universe(market)


@app.command()
def mock(
    count: Annotated[int, typer.Option("--count", "-n", min=0, help="tweets to write")] = 10,
    seed: Annotated[int, typer.Option(help="same seed, same tweets")] = 0,
    market: Annotated[
        str | None, typer.Option(help="cn or us; default both preset universes")
    ] = None,
    rate: Annotated[float, typer.Option(help="mean tweets per second (event time)")] = 10.0,
    strength: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="how much sentiment follows the mood")
    ] = 0.0,
) -> None:
    """Write COUNT mocked tweets (Twitter API v2 filtered-stream JSON) to stdout, one per line."""
    from quantdesk.sentiment.mocker import TweetMocker
    from quantdesk.sources.tweets.readers import iter_mock

    _require(rate > 0, "--rate", f"must be > 0 (got {rate})")
    _require(market in (None, "cn", "us"), "--market", f"use cn or us (got {market!r})")
    try:
        mocker = TweetMocker(_universe(market), seed=seed, rate_per_s=rate, strength=strength)
    except (QuantdeskError, ValueError) as exc:
        raise _fail(exc) from None
    out = sys.stdout.buffer
    for line in iter_mock(mocker, count):
        out.write(line + b"\n")
    out.flush()


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Option("--data", help="CSV text,label[,group]; default the shipped one")
    ] = None,
    model_dir: ModelDirOpt = None,
    seed: Annotated[int, typer.Option(help="seed of the held-out split")] = 0,
) -> None:
    """Train a new model version; print held-out figures and the evaluation-set table.

    The new version is saved (promoted) only if, on the hand-labelled
    evaluation set, it scores at least as well as VADER and the FinVADER
    finance lexicon (accuracy and macro F1); otherwise the table is printed,
    nothing is saved and the exit code is 2.
    """
    from quantdesk.errors import ModelRejectedError
    from quantdesk.sentiment.model import SHIPPED_DATA, EvalReport
    from quantdesk.sentiment.model import train as train_model

    try:
        result = train_model(data or SHIPPED_DATA, _model_dir(model_dir), seed=seed)
    except ModelRejectedError as exc:
        if isinstance(exc.report, EvalReport):
            typer.echo(exc.report.table(), err=True)
        raise _fail(exc) from None
    except QuantdeskError as exc:
        raise _fail(exc) from None
    m = result.metrics
    typer.echo(f"model v{result.version} saved to {result.model_path}")
    typer.echo(f"held-out split: {m.split}; train {m.n_train} rows, test {m.n_test} rows")
    typer.echo(f"{'':22}{'accuracy':>10}{'macro F1':>10}")
    typer.echo(f"{'model (held out)':22}{m.accuracy:>10.3f}{m.f1:>10.3f}")
    typer.echo(f"{'VADER (held out)':22}{m.vader_accuracy:>10.3f}{m.vader_f1:>10.3f}")
    typer.echo("")
    typer.echo(result.evaluation.table())


def _batches(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    it = iter(lines)
    while batch := list(islice(it, size)):
        yield batch


@app.command()
def score(
    file: Annotated[
        Path | None, typer.Option("--file", help="read JSON lines from a file, not stdin")
    ] = None,
    http: Annotated[
        bool, typer.Option("--http", help="read the Twitter v2 filtered stream (needs a token)")
    ] = False,
    base_url: Annotated[
        str | None, typer.Option(help="stream base URL; default QUANTDESK_TWITTER_BASE_URL")
    ] = None,
    model_dir: ModelDirOpt = None,
) -> None:
    """Score tweets (JSON lines: Twitter v2 shape or {"text": ...}); one JSON line out per line in.

    Output: {"id", "score", "label", "symbols"}; a bad line gives
    {"line": N, "error": REASON}. A summary goes to stderr.
    """
    from quantdesk.sentiment.model import SHIPPED_DATA, latest_version, load_model
    from quantdesk.sentiment.model import train as train_model
    from quantdesk.sentiment.tweets import TweetError, parse_tweet
    from quantdesk.sources.tweets import readers as ingest

    mdir = _model_dir(model_dir)
    try:
        if latest_version(mdir) is None:
            typer.echo(f"no model in {mdir}: training one from {SHIPPED_DATA} first", err=True)
            train_model(SHIPPED_DATA, mdir)
        model = load_model(mdir)
        source: Iterable[bytes]
        if http:
            source = ingest.stream_http(base_url=base_url)
        elif file is not None:
            source = ingest.iter_file(file)
        else:
            source = (line.rstrip(b"\r\n") for line in sys.stdin.buffer)
        out = sys.stdout.buffer
        n_line = n_ok = 0
        rejects: dict[str, int] = {}
        for batch in _batches(source, 1 if http else BATCH):
            items: list[tuple[int, Any]] = []
            for line in batch:
                n_line += 1
                if not line.strip():
                    continue
                try:
                    items.append((n_line, parse_tweet(line)))
                except TweetError as exc:
                    rejects[exc.reason] = rejects.get(exc.reason, 0) + 1
                    items.append((n_line, exc.reason))
            tweets = [t for _, t in items if not isinstance(t, str)]
            scores = iter(model.score([t.text for t in tweets]))
            for n, t in items:
                if isinstance(t, str):
                    out.write(orjson.dumps({"line": n, "error": t}) + b"\n")
                    continue
                s = next(scores)
                n_ok += 1
                rec = {"id": t.id, "score": round(s.score, 4), "label": s.label}
                out.write(orjson.dumps({**rec, "symbols": s.symbols}) + b"\n")
            out.flush()
    except QuantdeskError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        pass
    bad = sum(rejects.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(rejects.items()))
    typer.echo(f"scored {n_ok}, rejected {bad}{f' ({detail})' if detail else ''}", err=True)
