"""The sentiment model: TF-IDF of cleaned tokens (uni- and bigrams) + logistic regression.

* :func:`train` reads a CSV (``text,label[,group]``, see the package
  docstring), holds out a test split (whole ``group`` values when the column
  exists, else a stratified 25 % of rows), fits, evaluates next to VADER on
  the same held-out rows, refits on all rows, then scores the refitted model
  on the **evaluation set** (``data/eval_finance.csv``: hand-labelled finance
  tweets in real market language, never used for training: a training row
  equal to one of them is refused) beside VADER and the FinVADER finance
  lexicon (:mod:`quantdesk.sentiment.lexicon`). It saves (promotes) the new
  version only if its accuracy and its macro F1 on that set are each at
  least the best baseline's; otherwise it raises
  :class:`~quantdesk.errors.ModelRejectedError` with the table, logs an
  error, and writes nothing.
* :func:`load_model` loads the newest promoted (or a given) version from a
  model dir; a version that was not promoted is never served.
* Features: TF-IDF of cleaned uni- and bigrams plus *lexicon tokens*
  (:class:`~quantdesk.sentiment.lexicon.FinanceLexicon`: ``lex_pos``,
  ``lex_neg_strong`` ... for words a finance or general lexicon knows), so
  words never seen in training still count.
* :meth:`SentimentModel.score` scores many texts at once (vectorized):
  ``score = P(positive) - P(negative)`` in [-1, 1], the arg-max label, and the
  universe symbols the text names.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import logging
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import joblib
import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from quantdesk.domain.messages import StockMeta
from quantdesk.errors import DataError, ModelRejectedError, NotFoundError, QuantdeskError
from quantdesk.sentiment.clean import SymbolResolver, clean
from quantdesk.sentiment.lexicon import default_lexicon, finvader_labels
from quantdesk.sources.simulator.universe import default_universe

__all__ = [
    "FORMAT_VERSION",
    "LABELS",
    "SHIPPED_DATA",
    "SHIPPED_EVAL",
    "EvalReport",
    "EvalRow",
    "Metrics",
    "Score",
    "SentimentModel",
    "TrainResult",
    "evaluate",
    "load_model",
    "read_training_csv",
    "train",
    "vader_labels",
]

LABELS: Final = ("negative", "neutral", "positive")
_LABEL_ALIASES: Final = {"-1": "negative", "0": "neutral", "1": "positive"}
FORMAT_VERSION: Final = 2  # 2: lexicon tokens among the features; promotion recorded
SHIPPED_DATA: Final = Path(__file__).with_name("data") / "train_data.csv"
SHIPPED_EVAL: Final = Path(__file__).with_name("data") / "eval_finance.csv"
_FILE: Final = re.compile(r"^sentiment-v(\d+)\.joblib$")
log = logging.getLogger("quantdesk.sentiment")


def features(tokens: list[str]) -> list[str]:
    """Unigrams, bigrams and lexicon tokens of cleaned tokens (the analyzer; picklable)."""
    out = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    get = (_LEXICON_TOKENS or _load_lexicon_tokens()).get
    for tok in tokens:
        hit = get(tok)
        if hit is not None:
            out.extend(hit)
    return out


_LEXICON_TOKENS: dict[str, tuple[str, ...]] = {}


def _load_lexicon_tokens() -> dict[str, tuple[str, ...]]:
    """The default lexicon's token map, loaded once (``features`` runs per tweet)."""
    _LEXICON_TOKENS.update(default_lexicon().token_map)
    return _LEXICON_TOKENS


@dataclass(frozen=True, slots=True)
class Score:
    """One scored text: ``score`` in [-1, 1] (positive = bullish), ``label``, ``symbols``."""

    score: float
    label: str
    symbols: list[str]


@dataclass(frozen=True, slots=True)
class Metrics:
    """Held-out accuracy and macro F1 of the model and of the VADER baseline."""

    accuracy: float
    f1: float
    vader_accuracy: float
    vader_f1: float
    n_train: int
    n_test: int
    split: str

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class EvalRow:
    """One scorer on the evaluation set."""

    name: str
    accuracy: float
    f1: float
    baseline: bool = False


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Every scorer on the evaluation set; ``passed``: the candidate >= every baseline."""

    path: str
    sha256: str
    n: int
    candidate: str
    rows: tuple[EvalRow, ...]

    @property
    def best_baseline(self) -> EvalRow:
        base = [r for r in self.rows if r.baseline]
        return max(base, key=lambda r: (r.f1, r.accuracy))

    @property
    def passed(self) -> bool:
        me = next(r for r in self.rows if r.name == self.candidate)
        base = [r for r in self.rows if r.baseline]
        return me.accuracy >= max(r.accuracy for r in base) and me.f1 >= max(r.f1 for r in base)

    def table(self) -> str:
        """The report as a small text table (what ``quantdesk sentiment train`` prints)."""
        lines = [
            f"evaluation set: {self.path} ({self.n} hand-labelled tweets, never trained on)",
            f"{'':22}{'accuracy':>10}{'macro F1':>10}",
        ]
        for r in self.rows:
            tag = " (baseline)" if r.baseline else ""
            lines.append(f"{r.name:22}{r.accuracy:>10.3f}{r.f1:>10.3f}{tag}")
        verdict = "promoted" if self.passed else "REJECTED: below its baseline"
        lines.append(f"{self.candidate}: {verdict}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "n": self.n,
            "candidate": self.candidate,
            "passed": self.passed,
            "rows": [
                {"name": r.name, "accuracy": r.accuracy, "f1": r.f1, "baseline": r.baseline}
                for r in self.rows
            ],
        }


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What :func:`train` produced: the model, its metrics, version, files and evaluation."""

    model: SentimentModel
    metrics: Metrics
    version: int
    model_path: Path
    meta_path: Path
    evaluation: EvalReport


class SentimentModel:
    """A fitted vectorizer + classifier and the symbol resolver used for attribution."""

    def __init__(
        self,
        vectorizer: TfidfVectorizer,
        classifier: LogisticRegression,
        resolver: SymbolResolver | None = None,
        version: int = 0,
    ) -> None:
        self.vectorizer = vectorizer
        self.classifier = classifier
        self.resolver = resolver if resolver is not None else default_resolver()
        self.version = version
        classes = [str(c) for c in classifier.classes_]
        self._pos = classes.index("positive")
        self._neg = classes.index("negative")
        self._classes = np.asarray(classes, dtype=object)

    def score_tokens(self, token_lists: Sequence[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Scores and labels of already-cleaned token lists (one vectorized pass)."""
        if not token_lists:
            return np.zeros(0), np.zeros(0, dtype=object)
        proba = self.classifier.predict_proba(self.vectorizer.transform(token_lists))
        scores = proba[:, self._pos] - proba[:, self._neg]
        return scores, self._classes[proba.argmax(axis=1)]

    def score(self, texts: Sequence[str]) -> list[Score]:
        """Score many texts at once; see :class:`Score`."""
        cleaned = [clean(t, self.resolver) for t in texts]
        scores, labels = self.score_tokens([c.tokens for c in cleaned])
        return [
            Score(float(s), str(lab), c.symbols)
            for s, lab, c in zip(scores, labels, cleaned, strict=True)
        ]

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Labels only."""
        return [s.label for s in self.score(texts)]


def default_resolver(universe: Sequence[StockMeta] | None = None) -> SymbolResolver:
    """A resolver over ``universe``, default both preset universes (cn and us)."""
    if universe is None:
        universe = default_universe("cn") + default_universe("us")
    return SymbolResolver(universe)


def read_training_csv(path: str | Path) -> tuple[list[str], list[str], list[str] | None]:
    """Texts, labels and (optional) groups of a training CSV; bad rows raise DataError."""
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NotFoundError(f"training file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"training file {p}: cannot read it ({exc})") from exc
    reader = csv.DictReader(raw.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    if "text" not in header or "label" not in header:
        raise DataError(f"training file {p}: header must have 'text' and 'label' (got {header})")
    has_group = "group" in header
    texts, labels, groups = [], [], []
    for row in reader:
        label = (row.get("label") or "").strip().lower()
        label = _LABEL_ALIASES.get(label, label)
        if label not in LABELS:
            raise DataError(
                f"training file {p} row {reader.line_num}, field 'label': {row.get('label')!r} "
                "is not one of positive, negative, neutral (or 1, -1, 0)"
            )
        text = row.get("text") or ""
        if not text.strip():
            continue
        texts.append(text)
        labels.append(label)
        groups.append((row.get("group") or "").strip())
    missing = set(LABELS) - set(labels)
    if missing:
        raise DataError(f"training file {p}: no rows labelled {', '.join(sorted(missing))}")
    return texts, labels, groups if has_group else None


def vader_labels(texts: Sequence[str]) -> list[str]:
    """VADER's labels (compound >= 0.05 positive, <= -0.05 negative, else neutral)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    out = []
    for t in texts:
        c = analyzer.polarity_scores(t)["compound"]
        out.append("positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral")
    return out


def _fit(
    tokens: Sequence[list[str]], labels: Sequence[str]
) -> tuple[TfidfVectorizer, LogisticRegression]:
    vec = TfidfVectorizer(analyzer=features, sublinear_tf=True, min_df=1)
    x = vec.fit_transform(tokens)
    clf = LogisticRegression(C=4.0, max_iter=2000)
    clf.fit(x, list(labels))
    return vec, clf


def read_eval_csv(path: str | Path) -> tuple[list[str], list[str]]:
    """Texts and labels of an evaluation set (the training CSV format; ``group`` ignored)."""
    texts, labels, _ = read_training_csv(path)
    return texts, labels


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _scores(truth: Sequence[str], pred: Sequence[str]) -> tuple[float, float]:
    return float(accuracy_score(truth, pred)), float(f1_score(truth, pred, average="macro"))


def evaluate(
    candidate: tuple[str, SentimentModel],
    eval_path: str | Path = SHIPPED_EVAL,
    *,
    others: Sequence[tuple[str, SentimentModel]] = (),
) -> EvalReport:
    """Score ``candidate`` (and ``others``) on the evaluation set beside VADER and FinVADER."""
    texts, labels = read_eval_csv(eval_path)
    rows = []
    for name, model in [candidate, *others]:
        rows.append(EvalRow(name, *_scores(labels, model.predict(texts))))
    rows.append(EvalRow("VADER", *_scores(labels, vader_labels(texts)), baseline=True))
    rows.append(
        EvalRow("FinVADER lexicon", *_scores(labels, finvader_labels(texts)), baseline=True)
    )
    return EvalReport(
        path=str(eval_path),
        sha256=hashlib.sha256(Path(eval_path).read_bytes()).hexdigest(),
        n=len(texts),
        candidate=candidate[0],
        rows=tuple(rows),
    )


def train(
    data_path: str | Path = SHIPPED_DATA,
    model_dir: str | Path = Path("data/models/sentiment"),
    *,
    test_size: float = 0.25,
    seed: int = 0,
    resolver: SymbolResolver | None = None,
    eval_path: str | Path = SHIPPED_EVAL,
) -> TrainResult:
    """Train on ``data_path``; save a new version in ``model_dir`` only if it beats the baselines.

    The gate: on ``eval_path`` the refitted model's accuracy and macro F1 must
    each be at least the best of VADER's and FinVADER's; otherwise
    :class:`ModelRejectedError` (with the report) and nothing is written.
    """
    texts, labels, groups = read_training_csv(data_path)
    eval_texts, _ = read_eval_csv(eval_path)
    seen = {_norm(t) for t in eval_texts}
    leaked = [t for t in texts if _norm(t) in seen]
    if leaked:
        raise DataError(
            f"training file {data_path}: {len(leaked)} row(s) are in the evaluation set "
            f"{eval_path} (e.g. {leaked[0][:60]!r}); the evaluation set is never trained on"
        )
    resolver = resolver if resolver is not None else default_resolver()
    tokens = [clean(t, resolver).tokens for t in texts]
    idx = np.arange(len(texts))
    if groups is not None and len(set(groups)) >= 2 * len(LABELS):
        held = _held_out_groups(groups, labels, test_size, seed)
        te = idx[[g in held for g in groups]]
        tr = idx[[g not in held for g in groups]]
        split = f"held-out groups ({len(held)} of {len(set(groups))}, per label)"
    else:
        tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=labels)
        split = "stratified random rows"
    y_te = [labels[i] for i in te]
    vec, clf = _fit([tokens[i] for i in tr], [labels[i] for i in tr])
    pred = clf.predict(vec.transform([tokens[i] for i in te]))
    vader = vader_labels([texts[i] for i in te])
    metrics = Metrics(
        accuracy=float(accuracy_score(y_te, pred)),
        f1=float(f1_score(y_te, pred, average="macro")),
        vader_accuracy=float(accuracy_score(y_te, vader)),
        vader_f1=float(f1_score(y_te, vader, average="macro")),
        n_train=len(tr),
        n_test=len(te),
        split=split,
    )
    vec, clf = _fit(tokens, labels)  # the shipped model uses every row
    out = Path(model_dir)
    version = max(_versions(out), default=0) + 1
    model = SentimentModel(vec, clf, resolver, version)
    previous = []
    for v in sorted(_promoted(out), reverse=True)[:3]:  # the newest promoted ones, for the table
        with contextlib.suppress(QuantdeskError):
            previous.append((f"model v{v} (saved)", load_model(out, v, resolver)))
    report = evaluate((f"model v{version} (new)", model), eval_path, others=previous)
    if not report.passed:
        best = report.best_baseline
        me = report.rows[0]
        log.error("sentiment model rejected on the evaluation set:\n%s", report.table())
        raise ModelRejectedError(
            f"sentiment model not promoted: on {report.n} evaluation tweets ({eval_path}) it "
            f"scores accuracy {me.accuracy:.3f} / macro F1 {me.f1:.3f}, below {best.name}'s "
            f"{best.accuracy:.3f} / {best.f1:.3f}; nothing was saved",
            report,
        )
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"sentiment-v{version}.joblib"
    meta_path = out / f"sentiment-v{version}.json"
    data_bytes = Path(data_path).read_bytes()
    meta = {
        "version": version,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_path": str(data_path),
        "data_sha256": hashlib.sha256(data_bytes).hexdigest(),
        "rows": len(texts),
        "labels": list(LABELS),
        "model": "TfidfVectorizer(uni+bigrams of cleaned tokens + lexicon tokens) "
        "+ LogisticRegression",
        "sklearn_version": sklearn.__version__,
        "metrics": metrics.as_dict(),
        "evaluation": report.as_dict(),
        "promoted": True,
    }
    tmp = model_path.with_suffix(".joblib.tmp")
    joblib.dump({"format_version": FORMAT_VERSION, "vectorizer": vec, "classifier": clf}, tmp)
    meta_tmp = meta_path.with_suffix(".json.tmp")
    meta_tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    meta_tmp.replace(meta_path)  # the promotion record first: a model file never stands alone
    tmp.replace(model_path)
    return TrainResult(model, metrics, version, model_path, meta_path, report)


def _held_out_groups(
    groups: Sequence[str], labels: Sequence[str], test_size: float, seed: int
) -> set[str]:
    """About ``test_size`` of the groups of each label (a group's label is its most common)."""
    by_group: dict[str, Counter[str]] = {}
    for g, lab in zip(groups, labels, strict=True):
        by_group.setdefault(g, Counter())[lab] += 1
    per_label: dict[str, list[str]] = {}
    for g, counts in sorted(by_group.items()):
        per_label.setdefault(counts.most_common(1)[0][0], []).append(g)
    rng = random.Random(seed)
    held: set[str] = set()
    for members in per_label.values():
        if len(members) >= 2:
            rng.shuffle(members)
            held.update(members[: max(1, round(test_size * len(members)))])
    return held


def _versions(model_dir: Path) -> list[int]:
    if not model_dir.is_dir():
        return []
    return [int(m.group(1)) for p in model_dir.iterdir() if (m := _FILE.match(p.name))]


def _meta(model_dir: Path, version: int) -> dict[str, Any]:
    try:
        meta = json.loads((model_dir / f"sentiment-v{version}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _is_promoted(model_dir: Path, version: int) -> bool:
    meta = _meta(model_dir, version)
    return meta.get("promoted") is True and meta.get("format_version") == FORMAT_VERSION


def _promoted(model_dir: Path) -> list[int]:
    return [v for v in _versions(model_dir) if _is_promoted(model_dir, v)]


def latest_version(model_dir: str | Path) -> int | None:
    """The newest *promoted* version in ``model_dir`` (of this format), or None.

    Versions saved before the evaluation gate (format 1) do not count: a
    runtime that finds only those trains a new model.
    """
    return max(_promoted(Path(model_dir)), default=None)


def load_model(
    model_dir: str | Path, version: int | None = None, resolver: SymbolResolver | None = None
) -> SentimentModel:
    """Load a promoted model (the newest when ``version`` is None); never an unpromoted one."""
    d = Path(model_dir)
    v = version if version is not None else latest_version(d)
    if v is None:
        raise NotFoundError(
            f"no promoted sentiment model in {d}; run 'quantdesk sentiment train' first"
        )
    path = d / f"sentiment-v{v}.joblib"
    if not path.is_file():
        raise NotFoundError(f"sentiment model version {v} not found in {d}")
    if not _is_promoted(d, v):
        raise ModelRejectedError(
            f"sentiment model v{v} in {d} was not promoted (it predates the evaluation gate "
            "or scored below its baseline): retrain with 'quantdesk sentiment train'"
        )
    # joblib files are pickles: only load models you trained yourself.
    blob = joblib.load(path)
    if not isinstance(blob, dict) or blob.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{path}: unsupported model format; retrain with 'quantdesk sentiment train'"
        )
    return SentimentModel(blob["vectorizer"], blob["classifier"], resolver, v)
