from __future__ import annotations

from quantdesk.sentiment.clean import (
    SymbolResolver,
    clean,
    extract_symbols,
    mark_negation,
    normalize,
    remove_mentions,
    remove_stopwords,
    remove_urls,
    replace_emojis,
    tokenize,
)


def test_remove_urls() -> None:
    text = "see https://t.co/abc123 and http://x.com/a?b=1 or www.example.com/page now"
    assert remove_urls(text).split() == ["see", "and", "or", "now"]


def test_remove_mentions_keeps_emails() -> None:
    assert remove_mentions("@bob hi @alice_99, mail me@x.com").split() == [
        "hi",
        ",",
        "mail",
        "me@x.com",
    ]


def test_replace_emojis() -> None:
    out = replace_emojis("up 🚀🚀 then 📉 and ⚠️ 🦄")
    assert out.split() == [
        "up",
        "emoji_rocket",
        "emoji_rocket",
        "then",
        "emoji_chart_down",
        "and",
        "emoji_warning",
    ]


def test_normalize_and_tokenize() -> None:
    toks = tokenize(normalize("Going #ToTheMoon, isn’t it? 100%!"))
    assert toks == ["going", "tothemoon", ",", "isn't", "it", "?", "100", "!"]


def test_mark_negation_stops_at_punctuation() -> None:
    toks = ["not", "bullish", "at", "all", ",", "buying", "never", "selling", "."]
    assert mark_negation(toks) == [
        "not", "NOT_bullish", "NOT_at", "NOT_all", ",", "buying",
        "never", "NOT_selling", ".",
    ]  # fmt: skip
    assert mark_negation(["can't", "lose"]) == ["can't", "NOT_lose"]


def test_remove_stopwords_keeps_negation_and_direction() -> None:
    toks = ["the", "stock", "is", "not", "NOT_the", "NOT_top", "up", "down", "!", "no"]
    assert remove_stopwords(toks) == ["stock", "not", "NOT_top", "up", "down", "no"]


def test_cashtags_to_symbols(resolver: SymbolResolver) -> None:
    text = "$aapl and $600036 and $600519.SH, $000001 but not $XYZ or $5 or US$100"
    assert extract_symbols(text, resolver) == ["AAPL", "600036.SH", "600519.SH", "000001.SZ"]


def test_company_names_to_symbols(resolver: SymbolResolver) -> None:
    text = "Tesla beats Apple Inc.; China Merchants Bank and 贵州茅台 rally, Ping An Bank flat"
    assert extract_symbols(text, resolver) == [
        "TSLA", "AAPL", "600036.SH", "600519.SH", "000001.SZ",
    ]  # fmt: skip
    # case-sensitive on word boundaries: no fruit, no substrings
    assert extract_symbols("apple pie and metadata and Pineapple", resolver) == []


def test_symbols_deduplicated_in_order(resolver: SymbolResolver) -> None:
    assert extract_symbols("$TSLA Tesla $AAPL $TSLA", resolver) == ["TSLA", "AAPL"]


def test_clean_full_pipeline(resolver: SymbolResolver) -> None:
    c = clean("@elon $TSLA is NOT going to the moon 🚀 https://t.co/x #Tesla", resolver)
    assert c.symbols == ["TSLA"]
    assert c.tokens == ["not", "NOT_going", "NOT_moon", "NOT_emoji_rocket"]
    assert "tsla" not in c.tokens and "tesla" not in c.tokens


def test_clean_without_resolver() -> None:
    c = clean("bagholder here 😭")
    assert c.symbols == []
    assert c.tokens == ["bagholder", "emoji_cry"]


def test_clean_cashtag_in_url_is_ignored(resolver: SymbolResolver) -> None:
    assert clean("read https://x.com/$AAPL/news", resolver).symbols == []


def test_extract_equals_find_and_strip(resolver: SymbolResolver) -> None:
    from quantdesk.sentiment.mocker import TweetMocker
    from quantdesk.sources.simulator.universe import default_universe

    universe = default_universe("cn") + default_universe("us")
    for tw in TweetMocker(universe, seed=8).generate(300):
        text = tw["data"]["text"]
        symbols, stripped = resolver.extract(text)
        assert symbols == resolver.find(text)
        assert stripped.split() == resolver.strip(text).split()
