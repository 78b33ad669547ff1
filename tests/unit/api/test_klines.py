"""GET /api/klines and /health over a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext
from quantdesk.api.routers.klines import NewestBarsCache, bars_json
from quantdesk.config import load_settings
from quantdesk.domain import BAR_COLUMNS
from quantdesk.sources.simulator import default_universe
from quantdesk.storage import open_store

T0 = 1_795_138_200_000  # 2026-11-20 01:30 UTC


@pytest.fixture
def client(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path)
    store = open_store(settings.resolved_database_url)
    store.migrate()
    store.upsert_metadata(default_universe("cn"))
    rows = [
        ("600036.SH", iv, T0 + k * step, 10.0, 11.0, 9.0, 10.5, 100.0, 10.2, 3, "simulator")
        for iv, step in (("1m", 60_000), ("60m", 3_600_000))
        for k in range(300)
    ]
    store.upsert_bars(pd.DataFrame(rows, columns=list(BAR_COLUMNS)))
    with TestClient(create_app(ApiContext(store, settings))) as c:
        yield c
    store.close()


def test_default_is_newest_200_oldest_first(client: TestClient) -> None:
    bars = client.get("/api/klines", params={"symbol": "600036.SH"}).json()
    assert len(bars) == 200
    assert bars[0]["time"] == pd.Timestamp(
        T0 + 100 * 60_000, unit="ms", tz="UTC"
    ).isoformat().replace("+00:00", "Z")
    assert set(bars[0]) == set(BAR_COLUMNS)
    assert [b["time"] for b in bars] == sorted(b["time"] for b in bars)


def test_range_and_alias(client: TestClient) -> None:
    start = pd.Timestamp(T0, unit="ms", tz="UTC").isoformat()
    r = client.get(
        "/api/klines",
        params={"symbol": "600036.SH", "interval": "1h", "start": start, "end": T0 + 3 * 3_600_000},
    )
    assert r.status_code == 200
    bars = r.json()
    assert [b["interval"] for b in bars] == ["60m"] * 3


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({"symbol": "600036.SH", "limit": 0}, 422, "limit"),
        ({"symbol": "600036.SH", "limit": 5001}, 422, "limit"),
        ({"symbol": "600036.SH", "limit": "x"}, 422, "limit"),
        ({"symbol": "600036.SH", "interval": "7m"}, 400, "unknown interval"),
        ({"symbol": "600036.SH", "start": "yesterday"}, 400, "start"),
        ({"symbol": "600036.SH", "start": T0 + 10, "end": T0}, 400, "end"),
        ({"symbol": "NOPE.SH"}, 404, "unknown symbol"),
        ({}, 422, "symbol"),
    ],
)
def test_bad_parameters_get_one_line_4xx(client: TestClient, params, status, fragment) -> None:
    r = client.get("/api/klines", params=params)
    assert r.status_code == status
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and fragment in detail


def test_weekly_and_monthly_bars(client: TestClient, tmp_path: Path) -> None:
    week = ("600036.SH", "1w", T0, 10.0, 12.0, 9.0, 11.0, 500.0, 10.5, 9, "simulator")
    month = ("600036.SH", "1M", T0 - 86_400_000, 9.0, 12.0, 8.0, 11.0, 900.0, 10.1, 20, "simulator")
    store = client.app.state.store  # type: ignore[attr-defined]
    store.upsert_bars(pd.DataFrame([week, month], columns=list(BAR_COLUMNS)))
    for interval, name, row in (("1w", "1w", week), ("1M", "1M", month), ("1mo", "1M", month)):
        r = client.get("/api/klines", params={"symbol": "600036.SH", "interval": interval})
        assert r.status_code == 200
        bars = r.json()
        assert [(b["interval"], b["close"], b["trades"]) for b in bars] == [(name, 11.0, row[9])]


def test_known_symbol_without_bars_is_empty(client: TestClient) -> None:
    assert client.get("/api/klines", params={"symbol": "600519.SH"}).json() == []


def test_health_and_symbols(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    symbols = client.get("/api/symbols").json()
    assert len(symbols) == 10 and symbols[0]["market"] == "cn"


def _bar(symbol: str, interval: str, k: int, close: float) -> pd.DataFrame:
    step = 60_000 if interval == "1m" else 3_600_000
    row = (symbol, interval, T0 + k * step, close, close, close, close, 1.0, close, 1, "simulator")
    return pd.DataFrame([row], columns=list(BAR_COLUMNS))


def test_newest_bars_are_cached_until_the_store_changes(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    params = {"symbol": "600036.SH", "limit": 5}
    first = client.get("/api/klines", params=params).content
    assert client.get("/api/klines", params=params).content == first
    cache: NewestBarsCache = client.app.state.klines_cache  # type: ignore[attr-defined]
    assert (cache.hits, cache.misses) == (1, 1)
    # written in this process (another thread, so another connection): shown at once
    store.upsert_bars(_bar("600036.SH", "1m", 300, 12.5))
    bars = client.get("/api/klines", params=params).json()
    assert bars[-1]["close"] == 12.5 and len(bars) == 5
    # written by another process (another connection): shown at once too
    with open_store(store.url) as other:
        other.upsert_bars(_bar("600036.SH", "1m", 300, 13.5))
    assert client.get("/api/klines", params=params).json()[-1]["close"] == 13.5
    # ranges are never cached
    ranged = client.get("/api/klines", params={**params, "end": T0 + 301 * 60_000}).json()
    assert ranged == client.get("/api/klines", params=params).json()
    metrics = client.get("/metrics").text
    assert "quantdesk_klines_cache_hits_total 2.0" in metrics
    assert "quantdesk_klines_cache_misses_total 3.0" in metrics
    assert "quantdesk_sqlite_memory_bytes " in metrics


def test_cache_drops_a_body_queried_under_an_older_version() -> None:
    cache = NewestBarsCache(max_entries=2)
    key = ("A", "1m", 200)
    assert cache.get(1, key) is None
    assert cache.get(2, ("B", "1m", 200)) is None  # a newer version seen meanwhile
    cache.put(1, key, b"[old]")
    assert cache.get(2, key) is None
    cache.put(2, key, b"[new]")
    assert cache.get(2, key) == b"[new]"
    assert cache.get(3, key) is None and cache.entries == {}
    for n in range(3):  # bounded: full -> cleared
        cache.put(3, ("A", "1m", n), b"[]")
    assert len(cache.entries) == 1


@pytest.mark.parametrize("memory", [False, True])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["write", "write-other", "delete", "read"]),
            st.sampled_from(["600036.SH", "600000.SH"]),
            st.sampled_from(["1m", "60m"]),
            st.integers(0, 8),
            st.integers(1, 4),
        ),
        max_size=30,
    )
)
def test_cached_answers_always_equal_a_fresh_query(
    tmp_path: Path, memory: bool, ops: list[tuple[str, str, str, int, int]]
) -> None:
    """Any interleaving of writes (this thread, another connection) and reads."""
    settings_ = load_settings(data_dir=tmp_path)
    url = "sqlite://" if memory else settings_.resolved_database_url
    store = open_store(url)
    store.migrate()
    store.upsert_metadata(default_universe("cn"))
    other = store if memory else open_store(url)
    try:
        with TestClient(create_app(ApiContext(store, settings_), echo=lambda _m: None)) as client:
            for n, (op, symbol, interval, k, limit) in enumerate(ops):
                if op == "write":
                    store.upsert_bars(_bar(symbol, interval, k, 10.0 + n))
                elif op == "write-other":
                    other.upsert_bars(_bar(symbol, interval, k, 20.0 + n))
                elif op == "delete":
                    other.delete_bars(symbol)
                params = {"symbol": symbol, "interval": interval, "limit": limit}
                got = client.get("/api/klines", params=params).content
                assert got == bars_json(store.query_bars(symbol, interval, None, None, limit))
    finally:
        if other is not store:
            other.close()
        store.close()
