"""GET /api/tweets: auth, the newest rows of [start, end) oldest first, 4xx on bad params."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from quantdesk.domain import ScoredTweet
from tests.unit.api._app import T0, bearer, build, token

SEC = 1_000
XSS = '<script>alert(1)</script> $600036 "quoted" & <b>bold</b> 🚀'


def _tweet(n: int, *symbols: str, **kw: Any) -> ScoredTweet:
    fields: dict[str, Any] = {
        "id": str(1_900_000_000_000_000_000 + n),
        "time": T0 + n * SEC,
        "text": f"tweet {n}",
        "symbols": symbols,
        "score": round(-1 + n / 10, 2),
        "label": "neutral",
        "source": "mocker",
        "author_id": str(100 + n),
    }
    fields.update(kw)
    return ScoredTweet(**fields)


@pytest.fixture
def api(tmp_path: Path) -> Any:
    client, store = build(tmp_path)
    rows = [_tweet(n, "600036.SH" if n % 2 else "000001.SZ") for n in range(20)]
    rows.append(
        _tweet(20, "600036.SH", "600519.SH", text=XSS, label="positive", version_id="1" + "9" * 19)
    )
    store.upsert_tweets(rows)
    with client:
        yield client, bearer(token(client, "guest"))
    store.close()


def test_needs_a_token(api: Any) -> None:
    client, _ = api
    r = client.get("/api/tweets")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "not authenticated" in r.json()["detail"]
    r = client.get("/api/tweets", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401


def test_rows_of_a_symbol_newest_oldest_first(api: Any) -> None:
    client, guest = api
    r = client.get("/api/tweets", params={"symbol": "600036.SH", "limit": 3}, headers=guest)
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [row["time_ms"] for row in rows] == [T0 + 17 * SEC, T0 + 19 * SEC, T0 + 20 * SEC]
    first = rows[0]
    assert first == {
        "id": "1900000000000000017",
        "version_id": "1900000000000000017",
        "time": "2026-11-20T01:30:17Z",
        "time_ms": T0 + 17 * SEC,
        "author_id": "117",
        "text": "tweet 17",
        "symbols": ["600036.SH"],
        "score": 0.7,
        "label": "neutral",
        "source": "mocker",
    }
    assert rows[-1]["symbols"] == ["600036.SH", "600519.SH"]
    assert rows[-1]["version_id"] == "1" + "9" * 19
    # every tweet, default limit 200
    all_rows = client.get("/api/tweets", headers=guest).json()
    assert len(all_rows) == 21 and all_rows[0]["time_ms"] == T0
    unknown = client.get("/api/tweets?symbol=AAPL", headers=guest)  # not a stock of this store
    assert unknown.status_code == 404 and "unknown symbol 'AAPL'" in unknown.json()["detail"]
    bare = client.get("/api/tweets?symbol=600036&limit=3", headers=guest).json()
    assert [row["time_ms"] for row in bare] == [row["time_ms"] for row in rows]


def test_ranges_and_paging(api: Any) -> None:
    client, guest = api
    params: dict[str, Any] = {"symbol": "000001.SZ", "start": T0 + 4 * SEC, "end": T0 + 10 * SEC}
    rows = client.get("/api/tweets", params=params, headers=guest).json()
    assert [r["time_ms"] for r in rows] == [T0 + 4 * SEC, T0 + 6 * SEC, T0 + 8 * SEC]
    # ISO 8601 works too, and end = the first row's time pages back
    page = client.get("/api/tweets", params={"limit": 5}, headers=guest).json()
    older = client.get(
        "/api/tweets", params={"limit": 5, "end": page[0]["time"]}, headers=guest
    ).json()
    assert [r["time_ms"] for r in older + page] == [T0 + k * SEC for k in range(11, 21)]


def test_text_comes_back_verbatim_as_json_data(api: Any) -> None:
    client, guest = api
    r = client.get("/api/tweets", params={"symbol": "600519.SH"}, headers=guest)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    (row,) = r.json()
    assert row["text"] == XSS  # not escaped, not stripped: the UI escapes it


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"limit": 0}, 422, "limit"),
        ({"limit": 5001}, 422, "limit"),
        ({"limit": "many"}, 422, "limit"),
        ({"start": "yesterday"}, 400, "start: not ISO 8601"),
        ({"end": "2026-13-45"}, 400, "end: not ISO 8601"),
        ({"start": T0 + 5, "end": T0}, 400, "end: must be after start"),
        ({"symbol": "X" * 33}, 422, "symbol"),
    ],
)
def test_bad_parameters_are_4xx_one_line(
    api: Any, params: dict[str, Any], status: int, needle: str
) -> None:
    client, guest = api
    r = client.get("/api/tweets", params=params, headers=guest)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and needle in detail


def test_in_openapi(api: Any) -> None:
    client: TestClient = api[0]
    assert "/api/tweets" in client.get("/openapi.json").json()["paths"]
