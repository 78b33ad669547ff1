from __future__ import annotations

import orjson
import pytest

from quantdesk.sentiment.tweets import MAX_TEXT_CHARS, TweetError, parse_tweet
from quantdesk.sources.tweets.readers import TweetReader

GOOD = {
    "data": {
        "id": "1859000000000000001",
        "text": "$AAPL to the moon",
        "edit_history_tweet_ids": ["1859000000000000001"],
        "created_at": "2026-01-05T01:30:00.250Z",
        "author_id": "42",
    },
    "matching_rules": [{"id": "7", "tag": "cashtag AAPL"}],
}


def test_parse_v2_shape() -> None:
    t = parse_tweet(orjson.dumps(GOOD))
    assert t.id == "1859000000000000001"
    assert t.created_at == 1_767_576_600_250
    assert t.edit_history_tweet_ids == ("1859000000000000001",)
    assert t.rule_tags == ("cashtag AAPL",)


def test_parse_text_only() -> None:
    t = parse_tweet('{"text": "hello"}')
    assert t.text == "hello" and t.created_at is None and t.id is None
    with pytest.raises(TweetError) as e:
        parse_tweet('{"text": "hello"}', require_time=True)
    assert e.value.reason == "missing_created_at"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe not utf-8", "invalid_utf8"),
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'{"data": "x"}', "not_object"),
        (b'{"data": {"id": "1"}}', "missing_text"),
        (b'{"text": 5}', "bad_text"),
        (b'{"text": "a", "id": "12ab"}', "bad_id"),
        (b'{"text": "a", "id": 12}', "bad_id"),
        (b'{"text": "a", "created_at": "yesterday"}', "bad_created_at"),
        (b'{"text": "a", "created_at": "2026-01-05T01:30:00"}', "bad_created_at"),
        (b'{"text": "a", "edit_history_tweet_ids": "1"}', "bad_field"),
        (b'{"text": "a", "matching_rules": [1]}', "bad_field"),
        (b'{"text": "\\ud800"}', "not_json"),  # orjson refuses lone surrogates
    ],
)
def test_rejects_with_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(TweetError) as e:
        parse_tweet(raw)
    assert e.value.reason == reason


def test_lone_surrogate_in_decoded_object() -> None:
    with pytest.raises(TweetError) as e:
        parse_tweet({"text": "bad \ud800"})
    assert e.value.reason == "invalid_utf8"


def test_huge_text_rejected() -> None:
    ok = "x" * MAX_TEXT_CHARS
    assert parse_tweet({"text": ok}).text == ok
    with pytest.raises(TweetError) as e:
        parse_tweet({"text": ok + "y"})
    assert e.value.reason == "text_too_long"
    with pytest.raises(TweetError) as e:
        parse_tweet(b'{"text": "' + b"x" * 300_000 + b'"}')
    assert e.value.reason == "line_too_long"


def test_reader_counts_and_goes_on() -> None:
    reader = TweetReader()
    lines = [orjson.dumps(GOOD), b"", b"garbage", b"\xc3\x28", b'{"text": "ok"}', b"  "]
    tweets = list(reader.read_all(lines))
    assert [t.text for t in tweets] == ["$AAPL to the moon", "ok"]
    assert reader.accepted == 2 and reader.blank == 2
    assert dict(reader.rejects) == {"not_json": 1, "invalid_utf8": 1}
