"""A migrated SQLite store with a few rows, the app over it, and tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext, RuntimeCounters
from quantdesk.config import load_settings
from quantdesk.domain import BAR_COLUMNS, FactorValue, Signal
from quantdesk.sources.simulator import default_universe
from quantdesk.storage import open_store
from quantdesk.storage.base import PriceRow

T0 = 1_795_138_200_000


class LiveTrading:
    """A runtime that trades in the API's process (what ``quantdesk run`` hands over):
    its figures (:class:`~quantdesk.api.context.RuntimeInfo`) and its desk."""

    market = "cn"
    stopping = False

    def __init__(self, desk: Any) -> None:
        self.trading = desk

    def describe(self) -> dict[str, Any]:
        return {"trading": self.trading.describe()}

    def counters(self) -> RuntimeCounters:
        return RuntimeCounters()


def build(
    tmp_path: Path, runtime: Any = None, bus: Any = None, *, trading: bool = False
) -> tuple[TestClient, Any]:
    settings = load_settings(data_dir=tmp_path)
    store = open_store(settings.resolved_database_url)
    store.migrate()
    store.upsert_metadata(default_universe("cn"))
    rows = [
        ("600036.SH", "1m", T0 + k * 60_000, 10.0, 11.0, 9.0, 10.5, 100.0, 10.2, 3, "simulator")
        for k in range(50)
    ]
    store.upsert_bars(pd.DataFrame(rows, columns=list(BAR_COLUMNS)))
    store.upsert_prices([PriceRow("600036.SH", T0, 10.5, 100.0, "simulator")])
    store.upsert_factors([FactorValue("600036.SH", T0 + k, "obi", 0.1 * k, "") for k in range(5)])
    store.upsert_signals([Signal("600036.SH", T0, "obi", 0.7, "buy", "obi")])
    if trading:  # a live paper account on the universe, priced by the stored bars
        from quantdesk.trading.desk import TradingDesk

        day = [("600036.SH", "1d", T0, 10.0, 11.0, 9.0, 10.5, 5e3, 10.2, 150, "simulator")]
        store.upsert_bars(pd.DataFrame(day, columns=list(BAR_COLUMNS)))
        syms = [m.symbol for m in default_universe("cn")]
        desk = TradingDesk.open(
            settings, store.engine, syms, market="cn", strategy="buy_and_hold", interval="1m"
        )
        desk.seed_from(store, T0 + 50 * 60_000)
        runtime = LiveTrading(desk)
    app = create_app(ApiContext(store, settings, bus, runtime), echo=lambda _: None)
    return TestClient(app), store


def token(client: TestClient, user: str) -> str:
    r = client.post("/api/auth/token", data={"username": user, "password": f"{user}-pw"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}
