"""The Jobs page in real headless Chromium against a real ``quantdesk run --speed 60`` (whose
scheduler runs seed B's day): the day's timeline, schedules with next and last run, an
admin's "run now" (run by the platform's scheduler, shown in the history) and schedule
edit (a bad cron refused with the server's one line, a good one stored); a guest sees no
edit or trigger."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import Platform, login


def test_jobs_page_timeline_run_now_edit_and_guest(
    platform: Platform, page: Any, shoot: Any
) -> None:
    login(page, platform.base)
    page.click("a[data-route=jobs]")
    page.wait_for_selector("#jobs-page[data-jobs]")
    timeline = page.inner_text("#jobs-timeline")
    for job in ("price_sync", "sell", "history_sync", "predict", "buy", "order_sync"):
        assert job in timeline
    assert timeline.index("sell") < timeline.index("predict") < timeline.index("buy")
    assert "cron:35 9 * * *" in page.inner_text("#jobs-rows tr[data-job=sell] .schedule")
    assert page.inner_text("#jobs-rows tr[data-job=sell] .next") != "–"

    # run now: queued through the API, run by the platform's scheduler, shown with its end
    page.click("#jobs-rows tr[data-job=price_sync] button.run")
    page.wait_for_selector("#jobs-page[data-history=price_sync]")
    page.wait_for_selector(
        "#history-rows tr[data-status=ok], #history-rows tr[data-status=skipped],"
        " #history-rows tr[data-status=failed]",
        timeout=60_000,
    )
    runs = httpx.get(
        f"{platform.base}/api/v2/jobs/price_sync/runs",
        headers={"Authorization": f"Bearer {platform.token('guest')}"},
        timeout=10,
    ).json()
    manual = [r for r in runs if r["trigger"] == "manual"]
    assert manual and manual[0]["status"] in ("ok", "skipped", "failed")
    assert manual[0]["inputs"]["requested_by"] == "admin"

    # edit: a bad cron is refused with one line and nothing changes; a good one is stored
    page.click("#jobs-rows tr[data-job=sell] button.edit")
    page.fill("#job-schedule", "cron:99 9 * * *")
    page.click("#job-save")
    page.wait_for_selector("#job-editor-msg:has-text('cron')")
    assert "cron:35 9 * * *" in page.inner_text("#jobs-rows tr[data-job=sell] .schedule")
    page.fill("#job-schedule", "cron:40 9 * * *")
    page.click("#job-save")
    page.wait_for_selector("#jobs-rows tr[data-job=sell] .schedule:has-text('cron:40 9')")
    shoot(page, "jobs")

    # a guest reads, and may neither edit nor trigger
    guest = page.context.browser.new_context()
    gpage = guest.new_page()
    login(gpage, platform.base, "guest")
    gpage.click("a[data-route=jobs]")
    gpage.wait_for_selector("#jobs-page[data-jobs]")
    assert gpage.query_selector("#jobs-rows button") is None
    assert "cron:40 9" in gpage.inner_text("#jobs-rows tr[data-job=sell] .schedule")
    guest.close()
