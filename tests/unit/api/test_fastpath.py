"""The /api/klines fast path answers exactly what the endpoint answers, or declines."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext
from quantdesk.api.fastpath import parse_newest_query
from quantdesk.config import load_settings
from quantdesk.domain import BAR_COLUMNS
from quantdesk.sources.simulator import default_universe
from quantdesk.storage import open_store

T0 = 1_795_138_200_000
SYMBOLS = ["600036.SH", "000001.SZ"]


def _scope(query: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/klines",
        "raw_path": b"/api/klines",
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "state": {},
    }


async def _call(app: Any, query: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_scope(query), receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], list(start["headers"]), body


def _bars(symbol: str, interval: str, n: int, price: float) -> pd.DataFrame:
    rows = [
        (symbol, interval, T0 + k * 60_000, price, price + 1, price - 1, price, 1.0, price, 1, "s")
        for k in range(n)
    ]
    return pd.DataFrame(rows, columns=list(BAR_COLUMNS))


def test_parse_accepts_only_plain_valid_queries() -> None:
    assert parse_newest_query(b"symbol=AAPL") == ("AAPL", "1m", 200)
    assert parse_newest_query(b"symbol=AAPL&interval=1h&limit=5") == ("AAPL", "60m", 5)
    for declined in (
        b"",
        b"limit=5",
        b"symbol=AAPL&symbol=MSFT",
        b"symbol=AAPL&start=1",
        b"symbol=A%41PL",
        b"symbol=A+B",
        b"symbol=AAPL&limit=0",
        b"symbol=AAPL&limit=5001",
        b"symbol=AAPL&limit=-1",
        b"symbol=AAPL&limit=1.0",
        b"symbol=AAPL&interval=7m",
        b"symbol=" + b"X" * 33,
        b"symbol=",
        b"symbol",
        "symbol=ÄAPL".encode(),
    ):
        assert parse_newest_query(declined) is None, declined


@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["read", "read", "read", "write"]),
            st.sampled_from([*SYMBOLS, "UNKNOWN"]),
            st.sampled_from(["1m", "5m", "1h", "60m", "9m"]),
            st.sampled_from(["", "1", "7", "200", "0", "5000", "5001", "x"]),
        ),
        min_size=1,
        max_size=25,
    )
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_fast_answers_equal_the_endpoint(
    tmp_path: Path, ops: list[tuple[str, str, str, str]]
) -> None:
    settings_ = load_settings(data_dir=tmp_path)
    store = open_store("sqlite://")
    store.migrate()
    store.upsert_metadata(default_universe("cn"))
    app = create_app(ApiContext(store, settings_), echo=lambda _m: None)

    async def run() -> None:
        for n, (op, symbol, interval, limit) in enumerate(ops):
            if op == "write":
                store.upsert_bars(_bars(symbol, "1m" if interval == "9m" else interval, 3, n))
                continue
            query = f"symbol={symbol}&interval={interval}" + (f"&limit={limit}" if limit else "")
            fast = await _call(app, query.encode())
            # the endpoint itself: it ignores an unknown parameter, the fast path declines it
            slow = await _call(app, (query + "&_=1").encode())
            assert fast == slow, query

    asyncio.run(run())
    store.close()


def test_the_fast_path_serves_repeated_reads_and_counts_them(tmp_path: Path) -> None:
    settings_ = load_settings(data_dir=tmp_path)
    store = open_store("sqlite://")
    store.migrate()
    store.upsert_metadata(default_universe("cn"))
    store.upsert_bars(_bars("600036.SH", "1m", 300, 10.0))
    app = create_app(ApiContext(store, settings_), echo=lambda _m: None)

    async def run() -> None:
        first = await _call(app, b"symbol=600036.SH&limit=50")  # miss: the endpoint fills
        second = await _call(app, b"symbol=600036.SH&limit=50")  # hit: the fast path
        assert first == second and first[0] == 200
        newest = _bars("600036.SH", "1m", 300, 99.0).tail(1)
        store.upsert_bars(newest)  # a write to the newest bar: the answer changes
        third = await _call(app, b"symbol=600036.SH&limit=50")
        assert third[2] != second[2] and b"99.0" in third[2]

    asyncio.run(run())
    fast = next(m for m in app.user_middleware if m.cls.__name__ == "NewestBarsFastPath")
    assert fast is not None
    metrics = app.state.metrics.registry.get_sample_value(
        "quantdesk_http_request_duration_seconds_count",
        {"method": "GET", "route": "/api/klines", "status": "200"},
    )
    assert metrics == 3
    assert app.state.klines_cache.hits >= 1
    store.close()
