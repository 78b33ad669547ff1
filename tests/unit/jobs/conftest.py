"""Fixtures for the jobs: a SQLite store with simulated history, environments, fakes.

The fakes stand in for the trading and model packages (built in parallel): they
implement the jobs' protocols (:mod:`quantdesk.jobs.services`) and record calls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from quantdesk.backfill.run import run_backfill
from quantdesk.calendars import get_calendar
from quantdesk.config import Settings, load_settings
from quantdesk.jobs import JobEnvironment
from quantdesk.jobs.services import TradingDay
from quantdesk.storage import Store, open_store

CN = get_calendar("cn")


def local_ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: Any = CN.tz) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=tz).timestamp() * 1000)


def local(t_ms: int, tz: Any = CN.tz) -> dt.datetime:
    return dt.datetime.fromtimestamp(t_ms / 1000, tz)


class FakeTrading:
    """A strategy's two halves and a broker's settlement, recording each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dt.date, str]] = []

    def sell_half(self, day: TradingDay) -> Mapping[str, Any]:
        self.calls.append(("sell", day.day, ""))
        return {"orders": [f"sell-{day.day}"]}

    def buy_half(self, day: TradingDay, prediction: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append(("buy", day.day, str(prediction["id"])))
        return {"orders": [f"buy-{day.day}"], "on": prediction["id"]}

    def settle_day(self, day: TradingDay) -> Mapping[str, Any]:
        self.calls.append(("settle", day.day, ""))
        return {"fills": 0, "pnl": 0.0}


class FakeModel:
    """A predictor and incremental trainer; ``fail_on`` days make predict_day raise."""

    def __init__(self, fail_on: set[dt.date] | None = None) -> None:
        self.fail_on = fail_on or set()
        self.versions: list[str] = []
        self.trained: list[tuple[int, int]] = []

    def predict_day(self, day: TradingDay) -> Mapping[str, Any]:
        if day.day in self.fail_on:
            raise RuntimeError(f"model exploded on {day.day}")
        return {"id": f"fake@{day.day}", "model": "fake", "count": 10}

    def train_incremental(self, start_ms: int, end_ms: int) -> Mapping[str, Any]:
        parent = self.versions[-1] if self.versions else None
        version = f"v{len(self.versions) + 1}"
        self.versions.append(version)
        self.trained.append((start_ms, end_ms))
        return {"version": version, "parent": parent}


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[..., JobEnvironment]]:
    """``make_env(services=..., market=..., **settings)``: an environment on a SQLite store
    in ``tmp_path`` (the same database file on every call)."""
    opened: list[Store] = []

    def make(
        services: Mapping[str, Any] | None = None, market: str = "cn", **overrides: Any
    ) -> JobEnvironment:
        values = {"data_dir": tmp_path / "data", "backfill_days": 0, "market": market}
        settings: Settings = load_settings(**{**values, **overrides})
        store = open_store(f"sqlite:///{tmp_path / 'q.db'}")
        opened.append(store)
        return JobEnvironment.open(settings, store, services=services)

    yield make
    for store in opened:
        store.close()


def backfill(env: JobEnvironment, days: int, until: dt.datetime) -> None:
    """Simulated 1m bars (and roll-ups) for the ``days`` trading days before ``until``."""
    run_backfill(env.store, env.settings, days=days, market=env.market, now=until)


@pytest.fixture
def fakes() -> tuple[FakeTrading, FakeModel]:
    return FakeTrading(), FakeModel()


def services(trading: FakeTrading, model: FakeModel) -> dict[str, Any]:
    return {"strategy": trading, "broker": trading, "predictor": model, "trainer": model}


@pytest.fixture(autouse=True)
def _no_settings_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings come from the test only (no .env or quantdesk.toml of the checkout)."""
    monkeypatch.chdir(tmp_path)
    for name in ("QUANTDESK_DATABASE_URL", "QUANTDESK_MARKET", "QUANTDESK_JOBS_SCHEDULES"):
        monkeypatch.delenv(name, raising=False)
