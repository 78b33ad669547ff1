"""Finance lexicons: the FinVADER baseline and the model's lexicon features.

Two word lists ship in ``data/``:

* ``finvader_lexicon.csv`` (``word,score,source``): the two finance lexicons
  of the FinVADER package (Petr Koráb, Apache-2.0, PyPI ``finvader`` 1.0.4):
  SentiBigNomics (about 7,300 terms, scores in [-1, 1]) and Henry's (2008)
  189-word list of earnings press releases (scores +-1.5), copied verbatim.
  The ``finvader`` package itself is not a dependency: it pins
  ``nltk==3.6.2``, declares Python < 3.12 only, and downloads NLTK's VADER
  lexicon from the internet when imported. :func:`finvader_labels`
  reproduces its scorer exactly with the ``vaderSentiment`` package we
  already depend on: VADER's lexicon updated with SentiBigNomics x 0.1, then
  Henry's list (``finvader(text, use_sentibignomics=True, use_henry=True)``).
* ``market_lexicon.csv`` (``word,score``): market language written for
  quantdesk (bull, puts, dump, bagholder, downgrade, beat, miss, recall ...),
  scores in [-1, 1]; it wins over the others.

:class:`FinanceLexicon` merges VADER's general lexicon (scaled to [-1, 1]),
FinVADER's lists and the market list into one ``word -> polarity`` map and
turns cleaned tokens into *lexicon tokens* (``lex_pos``, ``lex_neg``,
``lex_pos_strong``, ``lex_neg_strong``; a ``NOT_`` token counts with the
opposite sign). The model learns a weight for each lexicon token, so a word it
never saw in training still moves the score if a lexicon knows it: this is
what lets a model trained on short, partly synthetic data generalise to real
market language.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Final

DATA: Final = Path(__file__).with_name("data")
FINVADER_CSV: Final = DATA / "finvader_lexicon.csv"
MARKET_CSV: Final = DATA / "market_lexicon.csv"
#: FinVADER's weight of SentiBigNomics inside VADER (its ``constant``).
SENTIBIGNOMICS_WEIGHT: Final = 0.1
#: |polarity| from which a word counts as strong.
STRONG: Final = 0.6
#: below this |polarity| a word carries no lexicon token
WEAK: Final = 0.05


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@functools.cache
def finvader_lists() -> tuple[dict[str, float], dict[str, float]]:
    """(SentiBigNomics, Henry) as shipped by FinVADER: word -> score."""
    senti: dict[str, float] = {}
    henry: dict[str, float] = {}
    for row in _read(FINVADER_CSV):
        (henry if row["source"] == "henry" else senti)[row["word"]] = float(row["score"])
    return senti, henry


@functools.cache
def market_list() -> dict[str, float]:
    """quantdesk's market-language list: word -> polarity in [-1, 1]."""
    return {row["word"]: float(row["score"]) for row in _read(MARKET_CSV)}


@functools.cache
def _finvader_analyzer() -> object:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    senti, henry = finvader_lists()
    analyzer = SentimentIntensityAnalyzer()
    merged = {k: v * SENTIBIGNOMICS_WEIGHT for k, v in senti.items()}
    merged.update(henry)  # FinVADER's Merge(): Henry's scores win
    analyzer.lexicon.update(merged)
    return analyzer


def _label(compound: float) -> str:
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


def finvader_labels(texts: Sequence[str]) -> list[str]:
    """FinVADER's labels (compound >= 0.05 positive, <= -0.05 negative, else neutral)."""
    analyzer = _finvader_analyzer()
    return [_label(analyzer.polarity_scores(t)["compound"]) for t in texts]  # type: ignore[attr-defined]


class FinanceLexicon:
    """One ``word -> polarity`` map (VADER, FinVADER, market list) and its lexicon tokens."""

    def __init__(self, polarity: dict[str, float]) -> None:
        self.polarity = polarity
        #: cleaned token -> its lexicon tokens (``NOT_`` forms included)
        self.token_map: dict[str, tuple[str, ...]] = {}
        for word, p in polarity.items():
            if abs(p) < WEAK:
                continue
            sign = "pos" if p > 0 else "neg"
            other = "neg" if p > 0 else "pos"
            strong = abs(p) >= STRONG
            self.token_map[word] = (
                (f"lex_{sign}", f"lex_{sign}_strong") if strong else (f"lex_{sign}",)
            )
            self.token_map["NOT_" + word] = (f"lex_{other}",)

    def tokens(self, tokens: Sequence[str]) -> list[str]:
        """The lexicon tokens of cleaned tokens (``NOT_x`` counts opposite to ``x``)."""
        get = self.token_map.get
        out: list[str] = []
        for tok in tokens:
            hit = get(tok)
            if hit is not None:
                out.extend(hit)
        return out


@functools.cache
def default_lexicon() -> FinanceLexicon:
    """VADER's lexicon (/4), then FinVADER's lists, then the market list (later wins)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    polarity = {
        w: max(-1.0, min(1.0, s / 4))
        for w, s in SentimentIntensityAnalyzer().lexicon.items()
        if " " not in w
    }
    senti, henry = finvader_lists()
    polarity.update({w: v for w, v in senti.items() if " " not in w})
    polarity.update({w: max(-1.0, min(1.0, v / 1.5)) for w, v in henry.items()})
    polarity.update(market_list())
    return FinanceLexicon(polarity)
