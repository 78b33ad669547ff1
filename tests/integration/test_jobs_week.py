"""Seed B's trading week through the real runtime: ``quantdesk run``'s Runner on the simulator,
as fast as possible (``--speed 0``: the scheduler steps on event time), with the live paper
account (t1's halves triggered by the jobs) and a real model (XGBoost, incremental).

The week spans China's National Day holiday (2024-10-01 .. 10-07). Phase one runs from
Friday 2024-09-27 to Thursday 10-10 before the open and stops; an admin moves ``sell`` to
9:40 through the API; phase two restarts the runtime on the same store and runs to
Monday 10-14. ``predict`` is made to fail on Wednesday 10-09 (a plug-in model that
raises that day).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext
from quantdesk.backfill.run import run_backfill
from quantdesk.calendars import get_calendar
from quantdesk.config import Settings, load_settings
from quantdesk.models.base import MODELS
from quantdesk.models.jobs import ModelJobs
from quantdesk.models.registry import ModelRegistry
from quantdesk.models.service import train
from quantdesk.models.zoo.boosting import XGBoost
from quantdesk.runtime import runner as runner_module
from quantdesk.runtime.runner import Runner
from quantdesk.sources.simulator import default_universe
from quantdesk.storage import open_store
from quantdesk.storage.base import Store
from quantdesk.storage.jobs import JobRepository, RunRow
from quantdesk.storage.trading import TradingStore

CN = get_calendar("cn")
DAILY = ["price_sync", "sell", "history_sync", "predict", "buy", "order_sync"]
BROKEN = dt.date(2024, 10, 9)
FULL_DAYS = [dt.date(2024, 9, 30), dt.date(2024, 10, 8), BROKEN, dt.date(2024, 10, 10)]
FULL_DAYS += [dt.date(2024, 10, 11)]
SATURDAYS = [dt.date(2024, 9, 28), dt.date(2024, 10, 5), dt.date(2024, 10, 12)]


def local_ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=CN.tz).timestamp() * 1000)


def local(t_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t_ms / 1000, CN.tz)


class FlakyJobs(ModelJobs):
    def predict_day(self, day: Any) -> dict[str, Any]:
        if day.day == BROKEN:
            raise RuntimeError(f"model exploded on {day.day}")
        return super().predict_day(day)


class Flaky(XGBoost):
    """XGBoost whose jobs' prediction fails on :data:`BROKEN`."""

    name = "flaky"

    @classmethod
    def for_jobs(cls, ctx: Any) -> Any:
        registry = ModelRegistry(ctx.env.engine, ctx.settings.resolved_model_dir)
        return FlakyJobs(cls.name, ctx.store, registry, ctx.market)


@pytest.fixture
def flaky() -> Iterator[None]:
    MODELS.register("flaky", Flaky)
    yield
    MODELS.unregister("flaky")


def drive(rt: Runner, stop_ms: int) -> None:
    """``quantdesk run --speed 0`` until event time reaches ``stop_ms``, then stop cleanly."""

    rt.prepare()
    rt.stop_at = stop_ms
    asyncio.run(rt.run())
    assert rt.sim_time == stop_ms


def runtime(settings: Settings, store: Store) -> Runner:
    return Runner(settings, store, speed=0.0, echo=lambda _m: None)


@pytest.mark.timeout(600)
def test_a_trading_week_of_jobs_through_the_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flaky: None
) -> None:
    monkeypatch.setenv("QUANTDESK_ADMIN_PASSWORD", "admin-pw")
    monkeypatch.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    # four of the preset stocks, as a user's universe file (the jobs' stock list too)
    stocks = default_universe("cn")[:4]
    universe = tmp_path / "universe.csv"
    lines = ["symbol,name,market,sector,base_price,volatility,base_volume"]
    lines += [
        f"{m.symbol},{m.name},cn,{m.sector},{m.base_price},{m.volatility},{m.base_volume}"
        for m in stocks
    ]
    universe.write_text("\n".join(lines) + "\n")
    settings = load_settings(
        data_dir=tmp_path,
        market="cn",
        tweets="none",
        universe_file=universe,
        backfill_days=0,
        model="flaky",
        strategy="t1",
        t1_top_k=2,
    )
    store = open_store(settings.resolved_database_url)
    store.migrate()
    # history until Thursday 09-26's close; the model's first version on it
    run_backfill(
        store, settings, days=45, market="cn", now=dt.datetime(2024, 9, 27, 8, 0, tzinfo=CN.tz)
    )
    registry = ModelRegistry(store.engine, settings.resolved_model_dir)
    first = train(store, registry, "flaky", end=dt.date(2024, 9, 25), market="cn").row
    monkeypatch.setattr(runner_module, "now_ms", lambda: local_ms(2024, 9, 27, 9, 0))

    drive(runtime(settings, store), local_ms(2024, 10, 10, 8, 0))

    # an admin moves the morning half to 9:40 through the API
    app = create_app(ApiContext(store, settings), echo=lambda _m: None)
    client = TestClient(app)
    tok = client.post("/api/auth/token", data={"username": "admin", "password": "admin-pw"}).json()[
        "access_token"
    ]
    r = client.put(
        "/api/v2/jobs/sell",
        json={"schedule": "cron:40 9 * * *"},
        headers={"Authorization": f"Bearer {tok}"},
    )
    assert r.status_code == 200, r.text

    # a restart on the same store runs the rest of the week
    drive(runtime(settings, store), local_ms(2024, 10, 14, 9, 50))

    runs = JobRepository(store.engine).runs(limit=None, ascending=True)
    journal = TradingStore(store.engine)
    fills = journal.load_fills()
    store.close()
    by_day: dict[dt.date, list[RunRow]] = defaultdict(list)
    for run in runs:
        by_day[local(run.fire_ms).date()].append(run)

    # never twice for one fire time
    keys = [(r.job, r.trigger, r.fire_ms) for r in runs if r.trigger == "schedule"]
    assert len(keys) == len(set(keys))

    # every daily job once per trading day, in the day's order, on the clock too
    for day in FULL_DAYS:
        todays = [r for r in by_day[day] if r.job in DAILY]
        assert [r.job for r in todays] == DAILY, day
        starts = [r.started_ms for r in todays]
        assert starts == sorted(starts), day
        for r in todays:
            assert r.started_ms is not None and r.started_ms >= r.fire_ms
            expect_fail = r.job == "predict" and day == BROKEN
            assert r.status == ("failed" if expect_fail else "ok"), (day, r.job, r.error)
    daily_days = {d for d, rs in by_day.items() if any(r.job in DAILY for r in rs)}
    assert daily_days <= {dt.date(2024, 9, 27), *FULL_DAYS, dt.date(2024, 10, 14)}
    assert all(d in CN.days for d in daily_days)
    # the schedule changed through the API held after the restart
    sells = {local(r.fire_ms).date(): local(r.fire_ms).time() for r in runs if r.job == "sell"}
    assert sells[dt.date(2024, 10, 8)] == dt.time(9, 35)
    for day in (dt.date(2024, 10, 10), dt.date(2024, 10, 11), dt.date(2024, 10, 14)):
        assert sells[day] == dt.time(9, 40), day

    # predict failed on Wednesday; buy still ran, on Tuesday's prediction
    broken = {r.job: r for r in by_day[BROKEN]}
    assert broken["predict"].error == f"RuntimeError: model exploded on {BROKEN}"
    used = broken["buy"].inputs["prediction"]
    assert used["source"] == "latest stored" and used["day"] == "2024-10-08"
    assert used["reason"].startswith("today's predict failed")
    assert broken["order_sync"].status == "ok"

    # train ran only on Saturdays, each version continuing the previous one
    trains = [r for r in runs if r.job == "train"]
    assert [local(r.fire_ms).date() for r in trains] == SATURDAYS
    done = [r for r in trains if r.status == "ok"]
    assert done, [(r.status, r.error) for r in trains]
    parent = first.version
    for r in done:
        assert r.outputs["parent"] == parent
        parent = r.outputs["version"]

    # T+1 through the jobs: what was bought in an afternoon was sold the next morning
    bought: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sold: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for f in fills:
        t = local(f.time)
        side = bought if f.side.value == "buy" else sold
        side[t.date()][f.symbol] += f.quantity
        if f.side.value == "buy":
            assert t.time() >= dt.time(13, 30)
        else:
            assert dt.time(9, 35) <= t.time() < dt.time(11, 30)
    buys = [(r.outputs.get("notes"), r.inputs.get("prediction")) for r in runs if r.job == "buy"]
    assert bought, buys
    for day, syms in bought.items():
        nxt = CN.days[CN.days.index(day) + 1]
        if nxt <= dt.date(2024, 10, 14):
            assert dict(sold[nxt]) == dict(syms), (day, nxt)
