"""Tweets: the parsed form, and validation of untrusted input with a reason for every reject.

A tweet arrives as one line of JSON in the Twitter API v2 filtered-stream
shape ``{"data": {"id", "text", "edit_history_tweet_ids", "created_at",
"author_id"}, "matching_rules": [{"id", "tag"}]}`` or, for scoring by hand,
as ``{"text": "..."}``. :func:`parse_tweet` turns a line (bytes or str) or a
decoded object into a :class:`Tweet` or raises :class:`TweetError` whose
``reason`` is one of :data:`REJECT_REASONS`; callers count the reasons and go
on with the next line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from quantdesk.domain.time import to_ms
from quantdesk.errors import TweetError as TweetError

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_TEXT_CHARS",
    "REJECT_REASONS",
    "Tweet",
    "TweetError",
    "parse_tweet",
]

#: Longest text accepted (characters); longer tweets are rejected as ``text_too_long``.
MAX_TEXT_CHARS: Final = 10_000
#: Longest raw line accepted (bytes), checked before JSON decoding.
MAX_LINE_BYTES: Final = 256 * 1024

REJECT_REASONS: Final = (
    "invalid_utf8",
    "line_too_long",
    "not_json",
    "not_object",
    "missing_text",
    "bad_text",
    "text_too_long",
    "bad_id",
    "bad_created_at",
    "missing_created_at",
    "bad_field",
)


@dataclass(frozen=True, slots=True)
class Tweet:
    """A validated tweet. ``created_at`` is epoch ms UTC, or None when the input had none."""

    text: str
    id: str | None = None
    created_at: int | None = None
    author_id: str | None = None
    edit_history_tweet_ids: tuple[str, ...] = ()
    rule_tags: tuple[str, ...] = ()


def parse_tweet(raw: bytes | str | dict[str, Any], *, require_time: bool = False) -> Tweet:
    """Validate one tweet (a JSON line or a decoded object); raise :class:`TweetError`."""
    if isinstance(raw, bytes | bytearray):
        if len(raw) > MAX_LINE_BYTES:
            raise TweetError("line_too_long", f"{len(raw)} bytes > {MAX_LINE_BYTES}")
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TweetError("invalid_utf8", str(exc)) from None
    if isinstance(raw, str):
        if len(raw) > MAX_LINE_BYTES:
            raise TweetError("line_too_long", f"{len(raw)} characters > {MAX_LINE_BYTES}")
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise TweetError("not_json", str(exc)) from None
    else:
        obj = raw
    if not isinstance(obj, dict):
        raise TweetError("not_object", f"expected a JSON object, got {type(obj).__name__}")
    data = obj.get("data", obj)
    if not isinstance(data, dict):
        raise TweetError("not_object", "'data' must be an object")
    text = data.get("text")
    if text is None:
        raise TweetError("missing_text", "no 'text' field")
    if not isinstance(text, str):
        raise TweetError("bad_text", f"'text' must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise TweetError("text_too_long", f"{len(text)} characters > {MAX_TEXT_CHARS}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise TweetError("invalid_utf8", "lone surrogate in 'text'") from None
    tid = _opt_str(data, "id", "bad_id")
    if tid is not None and not tid.isdigit():
        raise TweetError("bad_id", f"'id' must be digits, got {tid[:40]!r}")
    created = data.get("created_at")
    if created is None:
        if require_time:
            raise TweetError("missing_created_at", "no 'created_at' field")
        ts = None
    else:
        ts = _parse_time(created)
    author = _opt_str(data, "author_id", "bad_field")
    edits = data.get("edit_history_tweet_ids", [])
    if not isinstance(edits, list) or not all(isinstance(e, str) for e in edits):
        raise TweetError("bad_field", "'edit_history_tweet_ids' must be a list of strings")
    rules = obj.get("matching_rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise TweetError("bad_field", "'matching_rules' must be a list of objects")
    tags = tuple(str(r.get("tag", "")) for r in rules if r.get("tag") is not None)
    return Tweet(
        text=text,
        id=tid,
        created_at=ts,
        author_id=author,
        edit_history_tweet_ids=tuple(edits),
        rule_tags=tags,
    )


def _opt_str(data: dict[str, Any], key: str, reason: str) -> str | None:
    v = data.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise TweetError(reason, f"{key!r} must be a string, got {type(v).__name__}")
    return v


def _parse_time(value: Any) -> int:
    if not isinstance(value, str) or len(value) > 40:
        raise TweetError(
            "bad_created_at", f"'created_at' must be an ISO 8601 string: {value!r:.60}"
        )
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TweetError("bad_created_at", f"not ISO 8601: {value!r}") from None
    if dt.tzinfo is None:
        raise TweetError("bad_created_at", f"no time zone in {value!r} (use ...Z)")
    return to_ms(dt)
