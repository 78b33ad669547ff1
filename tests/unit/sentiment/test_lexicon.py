"""Finance lexicons: FinVADER's lists as shipped, its scorer, the model's lexicon tokens."""

from __future__ import annotations

from quantdesk.sentiment.clean import clean
from quantdesk.sentiment.lexicon import (
    FinanceLexicon,
    default_lexicon,
    finvader_labels,
    finvader_lists,
    market_list,
)
from quantdesk.sentiment.model import vader_labels


def test_finvader_lists_are_complete() -> None:
    senti, henry = finvader_lists()
    assert len(senti) == 7295 and len(henry) == 189
    assert all(-1.0 <= v <= 1.0 for v in senti.values())
    assert henry["decreased"] == -1.5 and senti["bankruptcy"] == -0.9
    assert all(-1.0 <= v <= 1.0 for v in market_list().values())


def test_finvader_reads_finance_words_that_vader_does_not() -> None:
    # Henry's list: "decreased" and "declined" are negative in earnings language
    texts = ["Revenue decreased this quarter", "Sales declined in Europe"]
    assert vader_labels(texts) == ["neutral", "neutral"]
    assert finvader_labels(texts) == ["negative", "negative"]


def test_lexicon_tokens_follow_negation() -> None:
    lex = FinanceLexicon({"rally": 0.8, "dip": 0.1, "meh": 0.01, "dump": -0.9})
    assert lex.tokens(["rally", "dip", "meh", "NOT_dump", "dump"]) == [
        "lex_pos",
        "lex_pos_strong",
        "lex_pos",
        "lex_pos",
        "lex_neg",
        "lex_neg_strong",
    ]
    # the market list wins over VADER's general sense of a word
    tokens = clean("bullish on this one, loading calls").tokens
    assert "lex_pos" in default_lexicon().tokens(tokens)
    assert default_lexicon().polarity["bullish"] > 0  # SentiBigNomics has it negative
