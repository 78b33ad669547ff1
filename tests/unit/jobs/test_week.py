"""A virtual trading week at speed 600: the scheduler driven by the simulator's virtual clock.

The week spans China's National Day holiday (2024-10-01 .. 10-07), so it has
trading days, a weekend and holidays. Bars come from the simulator's backfill.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Callable

from quantdesk.jobs import JobEnvironment
from quantdesk.jobs.scheduler import Scheduler
from quantdesk.runtime.clock import VirtualClock
from quantdesk.storage.jobs import RunRow
from tests.unit.jobs.conftest import CN, FakeModel, FakeTrading, backfill, local, local_ms, services

DAILY = ("price_sync", "sell", "history_sync", "predict", "buy", "order_sync")
START = local_ms(2024, 9, 27, 14, 0)  # a Friday afternoon, in session
STOP = local_ms(2024, 10, 14, 9, 40)  # the Monday after, just after sell
TRADING_DAYS = [dt.date(2024, 9, 30)] + [dt.date(2024, 10, d) for d in (8, 9, 10, 11)]


def drive_week(env: JobEnvironment, speed: float = 600.0) -> tuple[Scheduler, list[RunRow]]:
    """Step the scheduler every 0.25 s of (fake) wall time on a virtual clock."""
    wall = [0.0]
    clock = VirtualClock(CN, START, speed=speed, monotonic=lambda: wall[0])
    scheduler = Scheduler(env, clock, keep_lease=False)
    scheduler.start()
    runs: list[RunRow] = []
    while clock.now() < STOP:
        runs += scheduler.step()
        wall[0] += 0.25
    return scheduler, runs


def by_day(runs: list[RunRow]) -> dict[dt.date, list[RunRow]]:
    out: dict[dt.date, list[RunRow]] = defaultdict(list)
    for r in runs:
        out[local(r.fire_ms).date()].append(r)
    return out


def test_every_daily_job_runs_once_per_trading_day_in_order(
    make_env: Callable[..., JobEnvironment],
) -> None:
    trading, model = FakeTrading(), FakeModel()
    env = make_env(services=services(trading, model))
    backfill(env, 8, dt.datetime(2024, 10, 12, tzinfo=CN.tz))
    scheduler, runs = drive_week(env)
    stored = scheduler.repo.runs(limit=None, ascending=True)
    assert [r.id for r in stored] == [r.id for r in runs]  # every run stored, none twice

    days = by_day([r for r in runs if r.job in DAILY])
    for day in TRADING_DAYS:
        todays = days[day]
        assert [r.job for r in todays] == list(DAILY), day  # once each, in the day's order
        assert all(r.status == "ok" for r in todays), [(r.job, r.error) for r in todays]
        assert [r.id for r in todays] == sorted(r.id for r in todays)
        starts = [r.started_ms for r in todays]
        assert starts == sorted(starts)  # sell before predict before buy, on the clock too
    # no daily job on the weekend or the holiday week; the first (Friday) and last
    # (Monday) days are partial: only what fell inside the watched stretch
    assert set(days) == {*TRADING_DAYS, dt.date(2024, 9, 27), dt.date(2024, 10, 14)}
    assert [r.job for r in days[dt.date(2024, 9, 27)]] == ["order_sync"]
    assert [r.job for r in days[dt.date(2024, 10, 14)]] == ["price_sync", "sell"]

    trains = [r for r in runs if r.job == "train"]
    saturdays = [dt.date(2024, 9, 28), dt.date(2024, 10, 5), dt.date(2024, 10, 12)]
    assert [local(r.fire_ms).date() for r in trains] == saturdays
    assert all(r.status == "ok" for r in trains)
    # each version continues the previous one, on the data that came after it
    assert [r.outputs["parent"] for r in trains] == [None, "v1", "v2"]
    for before, after in itertools.pairwise(trains):
        assert after.outputs["data_start_ms"] == before.outputs["data_end_ms"]
        assert after.inputs["previous_version"] == before.outputs["version"]

    # the T+1 halves saw the right days, and buy used that day's prediction
    buys = [c for c in trading.calls if c[0] == "buy"]
    assert buys == [("buy", d, f"fake@{d}") for d in TRADING_DAYS]
    assert all(r.inputs["prediction"]["source"] == "today" for r in runs if r.job == "buy")


def test_a_failed_job_stops_nothing_and_buy_uses_the_latest_prediction(
    make_env: Callable[..., JobEnvironment],
) -> None:
    broken = dt.date(2024, 10, 9)
    trading, model = FakeTrading(), FakeModel(fail_on={broken})
    env = make_env(services=services(trading, model))
    backfill(env, 8, dt.datetime(2024, 10, 12, tzinfo=CN.tz))
    _, runs = drive_week(env)
    days = by_day(runs)
    todays = {r.job: r for r in days[broken]}
    assert todays["predict"].status == "failed"
    assert todays["predict"].error == f"RuntimeError: model exploded on {broken}"
    # the rest of the day, and the next day, ran as usual
    assert {j: r.status for j, r in todays.items() if j != "predict"} == dict.fromkeys(
        ("price_sync", "sell", "history_sync", "buy", "order_sync"), "ok"
    )
    used = todays["buy"].inputs["prediction"]
    assert used["source"] == "latest stored"
    assert used["ref"]["id"] == "fake@2024-10-08"
    assert used["reason"].startswith("today's predict failed")
    assert ("buy", broken, "fake@2024-10-08") in trading.calls
    assert {r.status for r in days[dt.date(2024, 10, 10)]} == {"ok"}


def test_without_trading_or_models_the_runs_are_skipped_with_the_reason(
    make_env: Callable[..., JobEnvironment], monkeypatch: object
) -> None:
    import pytest

    from quantdesk.jobs import services as svc

    mp = pytest.MonkeyPatch()
    try:
        for key, service in list(svc.SERVICES.items()):
            mp.setitem(
                svc.SERVICES,
                key,
                svc.Service(key, service.protocol, "quantdesk_absent_pkg:REG", "x", "y"),
            )
        env = make_env()
        backfill(env, 8, dt.datetime(2024, 10, 12, tzinfo=CN.tz))
        _, runs = drive_week(env)
    finally:
        mp.undo()
    status = {(r.job, local(r.fire_ms).date()): r for r in runs}
    day = dt.date(2024, 10, 8)
    for job in ("sell", "predict", "order_sync"):
        assert status[(job, day)].status == "skipped"
        assert "quantdesk_absent_pkg is not part of this build" in status[(job, day)].error
    assert status[("buy", day)].status == "skipped"
    assert status[("buy", day)].error == "no stored prediction: predict has not succeeded yet"
    for job in ("price_sync", "history_sync"):  # the jobs that need neither still work
        assert status[(job, day)].status == "ok"
