"""The file feed: a JSON-lines file replayed in event time, bad lines set aside."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from quantdesk.errors import NotFoundError
from quantdesk.sources.tweets import file as file_feed
from quantdesk.sources.tweets.base import DEAD_RAW_BYTES, TOPIC
from quantdesk.sources.tweets.file import FileFeed
from tests.unit.sentiment.fake_stream import tweet_line
from tests.unit.sources.tweets.conftest import Scored

T0 = 1_767_576_600_000
MIN = 60_000


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_tweets_enter_when_the_clock_passes_their_time(
    tmp_path: Path, scored: Callable[[FileFeed, int], Scored]
) -> None:
    huge = orjson.dumps({"data": {"id": "9", "text": "x" * 20_000, "created_at": "2026-01-05Z"}})
    path = write(
        tmp_path / "t.jsonl",
        [
            tweet_line(1, "$AAPL old news, bullish 🚀", T0 - 30 * MIN),  # before the start
            b"{not json",
            tweet_line(2, "$AAPL to the moon 🚀 strong buy", T0 + 10_000),
            b"",
            b"\xff\xfe",
            orjson.dumps({"data": {"id": "3", "text": "$AAPL no time"}}),
            huge,
            tweet_line(4, "$TSLA crashing, terrible, dump it", T0 + MIN),  # exactly at until
            tweet_line(5, "$TSLA weak, bearish", T0 + 90_000),
        ],
    )
    feed = FileFeed(path)
    factors, tweets = scored(feed, T0 + MIN)
    # the tweet from before the start is taken at the first step, with its own time
    assert [(t.id, t.time, t.source) for t in tweets] == [
        ("1", T0 - 30 * MIN, "file"),
        ("2", T0 + 10_000, "file"),
    ]
    assert {f.symbol for f in factors} == {"AAPL"} and factors[-1].ts == T0 + 10_000
    assert scored(feed, T0 + MIN) == ([], [])
    _, tweets = scored(feed, T0 + 2 * MIN)
    assert [t.id for t in tweets] == ["4", "5"]
    assert scored(feed, T0 + 60 * MIN) == ([], [])  # end of file: nothing more, no error
    assert feed.tweets == 4

    dead = feed.take_rejects()
    assert [d.reason for d in dead] == [
        "tweet_not_json",
        "tweet_invalid_utf8",
        "tweet_missing_created_at",
        "tweet_text_too_long",
    ]
    assert {d.topic for d in dead} == {TOPIC}
    assert dead[0].raw == b"{not json" and dead[1].raw == b"\xff\xfe"
    assert len(dead[3].raw) == DEAD_RAW_BYTES and "bytes kept" in dead[3].error
    assert feed.take_rejects() == []
    assert dict(feed.rejects) == {
        "not_json": 1,
        "invalid_utf8": 1,
        "missing_created_at": 1,
        "text_too_long": 1,
    }
    assert "4 scored" in feed.summary() and "not_json 1" in feed.summary()
    feed.close()


def test_a_backlog_drains_over_several_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_feed, "MAX_PER_STEP", 3)
    lines = [tweet_line(i, f"$AAPL buy {i}", T0 - 10 * MIN + i) for i in range(1, 8)]
    feed = FileFeed(write(tmp_path / "t.jsonl", lines))
    sizes = [len(feed.step(T0)) for _ in range(4)]
    assert sizes == [3, 3, 1, 0]


def test_a_missing_file_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"nope\.jsonl"):
        FileFeed(tmp_path / "nope.jsonl")


def test_a_restored_snapshot_continues_at_the_next_line(tmp_path: Path) -> None:
    lines = [tweet_line(i, f"$AAPL buy {i}", T0 + i * 10_000) for i in range(1, 10)]
    lines.insert(3, b"{bad")
    path = write(tmp_path / "t.jsonl", lines)
    first = FileFeed(path)
    got = [t.id for t in first.step(T0 + 45_000)]  # 1..4 and the bad line
    state = first.snapshot()
    assert state == {"lines": 5}
    first.close()
    again = FileFeed(path)
    again.restore(state)
    got += [t.id for t in again.step(T0 + 200_000)]
    assert got == [str(i) for i in range(1, 10)]
    assert not again.take_rejects()  # the bad line is not read (nor counted) again
    again.close()
