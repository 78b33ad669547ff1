"""GET /api/klines and /health over a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from quantdesk.api.app import create_app
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
    with TestClient(create_app(store, settings)) as c:
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


def test_known_symbol_without_bars_is_empty(client: TestClient) -> None:
    assert client.get("/api/klines", params={"symbol": "600519.SH"}).json() == []


def test_health_and_symbols(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    symbols = client.get("/api/symbols").json()
    assert len(symbols) == 10 and symbols[0]["market"] == "cn"
