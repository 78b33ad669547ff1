"""/api/v2/jobs: the list, a job's runs, an admin's schedule change and manual run; bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext
from quantdesk.config import load_settings
from quantdesk.jobs import JobEnvironment
from quantdesk.jobs.scheduler import Scheduler
from quantdesk.runtime.clock import WallClock
from quantdesk.storage import open_store
from tests.unit.api._app import bearer, token


@pytest.fixture
def api(tmp_path: Path) -> Iterator[SimpleNamespace]:
    settings = load_settings(data_dir=tmp_path, backfill_days=0, market="cn")
    store = open_store(settings.resolved_database_url)
    store.migrate()
    client = TestClient(create_app(ApiContext(store, settings), echo=lambda _: None))
    admin = bearer(token(client, "admin"))
    guest = bearer(token(client, "guest"))
    yield SimpleNamespace(
        client=client, admin=admin, guest=guest, store=store, settings=settings, tmp=tmp_path
    )
    store.close()


def test_list_shows_every_job_with_its_schedule(api: SimpleNamespace) -> None:
    body = api.client.get("/api/v2/jobs", headers=api.guest).json()
    assert body["timezone"] == "Asia/Shanghai"
    jobs = {j["name"]: j for j in body["jobs"]}
    assert set(jobs) >= {"price_sync", "sell", "history_sync", "predict", "buy", "order_sync"}
    assert set(jobs) >= {"stock_list_sync", "train", "permission_refresh", "cleanup", "init"}
    sell = jobs["sell"]
    assert sell["schedule"] == "cron:35 9 * * *" and sell["trading_days"] and sell["enabled"]
    assert sell["next_run"].endswith(":35:00Z") and sell["last_run"] is None
    assert api.client.get("/api/v2/jobs").status_code == 401


def test_admin_changes_a_schedule_and_it_holds_in_a_new_app(api: SimpleNamespace) -> None:
    c = api.client
    r = c.put("/api/v2/jobs/sell", json={"schedule": "cron:40 9 * * *"}, headers=api.admin)
    assert r.status_code == 200, r.text
    assert r.json()["schedule"] == "cron:40 9 * * *" and r.json()["updated_by"] == "admin"
    r = c.put("/api/v2/jobs/cleanup", json={"enabled": False}, headers=api.admin)
    assert r.status_code == 200 and r.json()["enabled"] is False
    # a restart: a new app (and a scheduler) on the same store sees the change
    again = TestClient(create_app(ApiContext(api.store, api.settings), echo=lambda _: None))
    jobs = {j["name"]: j for j in again.get("/api/v2/jobs", headers=api.guest).json()["jobs"]}
    assert jobs["sell"]["schedule"] == "cron:40 9 * * *" and jobs["sell"]["origin"] == "admin"
    assert jobs["cleanup"]["enabled"] is False and jobs["cleanup"]["next_run"] is None
    sched = Scheduler(JobEnvironment.open(api.settings, api.store), WallClock(), keep_lease=False)
    sched.prepare()
    rows = {r.name: r for r in sched.repo.schedules()}
    assert rows["sell"].spec == "cron:40 9 * * *" and not rows["cleanup"].enabled


@pytest.mark.parametrize(
    ("path", "body", "status", "line"),
    [
        ("sell", {"schedule": "cron:61 9 * * *"}, 422, "cron"),
        ("sell", {"schedule": "cron:1 2 3"}, 422, "cron"),
        ("sell", {"schedule": "weekly"}, 422, ""),
        ("sell", {"schedule": "once"}, 422, "once"),
        ("nosuch", {"enabled": False}, 404, "unknown job"),
        ("sell", {}, 422, "give schedule"),
        ("sell", {"schedule": "cron:40 9 * * *", "color": "red"}, 422, ""),
    ],
)
def test_bad_changes_are_one_line_4xx_and_change_nothing(
    api: SimpleNamespace, path: str, body: dict[str, object], status: int, line: str
) -> None:
    before = api.client.get("/api/v2/jobs", headers=api.guest).json()
    r = api.client.put(f"/api/v2/jobs/{path}", json=body, headers=api.admin)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    if isinstance(detail, str):
        assert "\n" not in detail and line in detail
    assert api.client.get("/api/v2/jobs", headers=api.guest).json() == before


def test_guest_may_neither_change_nor_trigger(api: SimpleNamespace) -> None:
    c = api.client
    before = c.get("/api/v2/jobs", headers=api.guest).json()
    r = c.put("/api/v2/jobs/sell", json={"enabled": False}, headers=api.guest)
    assert r.status_code == 403 and "\n" not in r.json()["detail"]
    assert c.post("/api/v2/jobs/sell/run", headers=api.guest).status_code == 403
    assert c.get("/api/v2/jobs", headers=api.guest).json() == before
    assert c.get("/api/v2/jobs/sell/runs", headers=api.guest).json() == []


def test_a_manual_run_is_queued_for_the_scheduler_and_shows_in_the_runs(
    api: SimpleNamespace,
) -> None:
    c = api.client
    r = c.post("/api/v2/jobs/price_sync/run", headers=api.admin)
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["status"] == "queued" and queued["trigger"] == "manual"
    assert c.post("/api/v2/jobs/nosuch/run", headers=api.admin).status_code == 404
    # the running scheduler (here: one step of it) claims and runs it
    env = JobEnvironment.open(api.settings, api.store)
    sched = Scheduler(env, WallClock(), keep_lease=False, recover=False)
    sched.start()
    done = sched.step()
    sched.close()
    assert [(d.id, d.job) for d in done if d.trigger == "manual"] == [(queued["id"], "price_sync")]
    runs = c.get("/api/v2/jobs/price_sync/runs", headers=api.guest).json()
    assert runs[0]["id"] == queued["id"]
    assert runs[0]["status"] in ("ok", "skipped", "failed")
    assert runs[0]["inputs"]["requested_by"] == "admin"
    jobs = {j["name"]: j for j in c.get("/api/v2/jobs", headers=api.guest).json()["jobs"]}
    assert jobs["price_sync"]["last_run"]["id"] == queued["id"]
    assert c.get("/api/v2/jobs/nosuch/runs", headers=api.guest).status_code == 404
    with api.store.engine.connect() as conn:
        actions = [a for (a,) in conn.exec_driver_sql("SELECT action FROM audit_log")]
    assert "job.run" in actions and "job.schedule" not in actions
