"""The sentiment model: TF-IDF of cleaned tokens (uni- and bigrams) + logistic regression.

* :func:`train` reads a CSV (``text,label[,group]``, see the package
  docstring), holds out a test split (whole ``group`` values when the column
  exists, else a stratified 20 % of rows), fits, evaluates next to VADER on
  the same held-out rows, refits on all rows and saves a new version.
* :func:`load_model` loads the newest (or a given) version from a model dir.
* :meth:`SentimentModel.score` scores many texts at once (vectorized):
  ``score = P(positive) - P(negative)`` in [-1, 1], the arg-max label, and the
  universe symbols the text names.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
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
from quantdesk.errors import DataError, NotFoundError
from quantdesk.sentiment.clean import SymbolResolver, clean
from quantdesk.sources.simulator.universe import default_universe

__all__ = [
    "FORMAT_VERSION",
    "LABELS",
    "SHIPPED_DATA",
    "Metrics",
    "Score",
    "SentimentModel",
    "TrainResult",
    "load_model",
    "read_training_csv",
    "train",
    "vader_labels",
]

LABELS: Final = ("negative", "neutral", "positive")
_LABEL_ALIASES: Final = {"-1": "negative", "0": "neutral", "1": "positive"}
FORMAT_VERSION: Final = 1
SHIPPED_DATA: Final = Path(__file__).with_name("data") / "train_data.csv"
_FILE: Final = re.compile(r"^sentiment-v(\d+)\.joblib$")


def features(tokens: list[str]) -> list[str]:
    """Unigrams and bigrams of cleaned tokens (the vectorizer's analyzer; must be picklable)."""
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


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
class TrainResult:
    """What :func:`train` produced: the model, its metrics, version and files."""

    model: SentimentModel
    metrics: Metrics
    version: int
    model_path: Path
    meta_path: Path


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


def train(
    data_path: str | Path = SHIPPED_DATA,
    model_dir: str | Path = Path("data/models/sentiment"),
    *,
    test_size: float = 0.25,
    seed: int = 0,
    resolver: SymbolResolver | None = None,
) -> TrainResult:
    """Train on ``data_path``, evaluate on a held-out split, save a new version in ``model_dir``."""
    texts, labels, groups = read_training_csv(data_path)
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
    out.mkdir(parents=True, exist_ok=True)
    version = max(_versions(out), default=0) + 1
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
        "model": "TfidfVectorizer(uni+bigrams of cleaned tokens) + LogisticRegression",
        "sklearn_version": sklearn.__version__,
        "metrics": metrics.as_dict(),
    }
    tmp = model_path.with_suffix(".joblib.tmp")
    joblib.dump({"format_version": FORMAT_VERSION, "vectorizer": vec, "classifier": clf}, tmp)
    tmp.replace(model_path)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    model = SentimentModel(vec, clf, resolver, version)
    return TrainResult(model, metrics, version, model_path, meta_path)


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


def latest_version(model_dir: str | Path) -> int | None:
    """The newest saved version in ``model_dir``, or None."""
    return max(_versions(Path(model_dir)), default=None)


def load_model(
    model_dir: str | Path, version: int | None = None, resolver: SymbolResolver | None = None
) -> SentimentModel:
    """Load a saved model (the newest when ``version`` is None)."""
    d = Path(model_dir)
    v = version if version is not None else latest_version(d)
    if v is None:
        raise NotFoundError(f"no sentiment model in {d}; run 'quantdesk sentiment train' first")
    path = d / f"sentiment-v{v}.joblib"
    if not path.is_file():
        raise NotFoundError(f"sentiment model version {v} not found in {d}")
    # joblib files are pickles: only load models you trained yourself.
    blob = joblib.load(path)
    if not isinstance(blob, dict) or blob.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{path}: unsupported model format; retrain with 'quantdesk sentiment train'"
        )
    return SentimentModel(blob["vectorizer"], blob["classifier"], resolver, v)
