"""Every endpoint resolves symbols the same way; unknown ones are a 404 naming the nearest."""

from __future__ import annotations

import pandas as pd
import pytest

from quantdesk.domain import BAR_COLUMNS
from tests.unit.api._app import T0, bearer, build, token
from tests.unit.api.test_tweets_api import _tweet

# every endpoint with a symbol: each answers something for 600036.SH
ENDPOINTS = [
    "/api/klines?symbol={s}&limit=3",
    "/api/factors?symbol={s}",
    "/api/signals?symbol={s}",
    "/api/tweets?symbol={s}",
    "/api/v2/stocks/quotes?symbols={s}",
    "/api/v2/stocks/{s}/historical?period=1d",
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    mp.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    mp.setenv("QUANTDESK_GUEST_PASSWORD", "guest-pw")
    client, store = build(tmp_path_factory.mktemp("symbols"))
    imported = [("TSM", "1d", T0, 1.0, 2.0, 0.5, 1.5, 10.0, 1.2, 0, "import:tsm.csv")]
    store.upsert_bars(pd.DataFrame(imported, columns=list(BAR_COLUMNS)))
    store.upsert_tweets([_tweet(1, "600036.SH"), _tweet(2, "000001.SZ")])
    yield client, bearer(token(client, "guest"))
    store.close()
    mp.undo()


def _strip_codes(body: object) -> object:
    if isinstance(body, dict) and "quotes" in body:
        return [{k: v for k, v in q.items() if k != "code"} for q in body["quotes"]]
    return body


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("spelling", ["600036", "600036.sh", "600036.SS", "sh600036", " 600036.SH"])
def test_spellings_answer_like_the_stored_symbol(api, path: str, spelling: str) -> None:
    client, guest = api
    want = client.get(path.format(s="600036.SH"), headers=guest)
    got = client.get(path.format(s=spelling), headers=guest)
    assert want.status_code == 200 and got.status_code == 200, (spelling, got.text)
    assert _strip_codes(got.json()) == _strip_codes(want.json())
    assert want.json(), path  # something to compare


@pytest.mark.parametrize("path", ENDPOINTS)
def test_unknown_symbol_is_404_with_nearest_names(api, path: str) -> None:
    client, guest = api
    r = client.get(path.format(s="600037.SH"), headers=guest)
    assert r.status_code == 404, (path, r.text)
    assert r.json()["detail"].startswith("unknown symbol '600037.SH': did you mean 600036.SH")
    r = client.get(path.format(s="XYZ"), headers=guest)
    assert r.status_code == 404 and "unknown symbol 'XYZ'" in r.json()["detail"]


def test_a_symbol_with_bars_but_no_metadata_is_known(api) -> None:
    client, _guest = api
    r = client.get("/api/klines?symbol=tsm&interval=1d")
    assert r.status_code == 200 and [b["symbol"] for b in r.json()] == ["TSM"]
