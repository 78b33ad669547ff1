"""Tweet sentiment: scoring throughput (ours vs VADER) and held-out accuracy / F1 (ours vs VADER).

Throughput is tweets per second in one process, cleaning and symbol
attribution included, scoring in batches of 5,000 texts (one vectorized
transform and ``predict_proba`` per batch). The baseline is VADER's
``polarity_scores`` on the same texts, one by one (it has no batch API).
Accuracy and macro F1 are those :func:`quantdesk.sentiment.model.train`
measures on its held-out groups of the shipped training set (mostly
synthetic), and on the hand-labelled evaluation set of real market language
(``quantdesk/sentiment/data/eval_finance.csv``, never trained on) beside VADER
and the FinVADER finance lexicon (the promotion gate: at least both).
"""

from __future__ import annotations

import tempfile

from benchmarks._report import Figure, stopwatch
from quantdesk.sentiment.mocker import TweetMocker
from quantdesk.sentiment.model import SHIPPED_DATA, EvalReport, train
from quantdesk.sources.simulator.universe import default_universe

TARGET = 20_000.0  # tweets/s per process
BATCH = 5_000


def run(quick: bool) -> list[Figure]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    n = 20_000 if quick else 200_000
    n_vader = 5_000 if quick else 20_000
    universe = default_universe("cn") + default_universe("us")
    texts = [t["data"]["text"] for t in TweetMocker(universe, seed=1).generate(n)]
    with tempfile.TemporaryDirectory() as d:
        result = train(SHIPPED_DATA, d)
    model, m = result.model, result.metrics
    model.score(texts[:BATCH])  # warm up
    with stopwatch() as elapsed:
        for i in range(0, n, BATCH):
            model.score(texts[i : i + BATCH])
    ours = n / elapsed()
    analyzer = SentimentIntensityAnalyzer()
    with stopwatch() as elapsed:
        for t in texts[:n_vader]:
            analyzer.polarity_scores(t)
    vader = n_vader / elapsed()
    return [
        Figure(
            "sentiment scoring throughput (clean+attribute+score)",
            ours,
            "tweets/s",
            baseline=vader,
            baseline_name="VADER",
            target=TARGET,
        ),
        Figure(f"held-out accuracy ({m.split})", m.accuracy, "", m.vader_accuracy, "VADER"),
        Figure("held-out macro F1", m.f1, "", m.vader_f1, "VADER"),
        *_evaluation(result.evaluation),
    ]


def _evaluation(report: EvalReport) -> list[Figure]:
    me = next(r for r in report.rows if r.name == report.candidate)
    out = []
    for base in (r for r in report.rows if r.baseline):
        label = f"evaluation set ({report.n} real tweets)"
        out.append(Figure(f"{label} accuracy", me.accuracy, "", base.accuracy, base.name))
        out.append(Figure(f"{label} macro F1", me.f1, "", base.f1, base.name))
    return out
