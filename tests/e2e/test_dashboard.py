"""The dashboard in real headless Chromium against a real ``quantdesk run``.

Each page is exercised the way a user does it and photographed into
``test-artifacts/screenshots/``. Charts draw on a canvas, so the market page
mirrors what it shows in ``data-*`` attributes of ``#price-chart`` (bar
count, last bar, live updates applied, markers drawn), which the tests read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests.e2e.conftest import Platform, login


def _dataset(page: Any, selector: str) -> dict[str, str]:
    return dict(page.eval_on_selector(selector, "el => ({...el.dataset})"))


def _wait(page: Any, js: str, arg: Any = None, timeout: float = 60_000) -> None:
    page.wait_for_function(js, arg=arg, timeout=timeout)


def test_wrong_password_is_refused(platform: Platform, page: Any, shoot: Any) -> None:
    login(page, platform.base, "admin", "not-the-password")
    page.wait_for_selector("#login-error:has-text('wrong username or password')")
    assert page.url.endswith("#/login")
    shoot(page, "login-refused")


def test_login_then_candles_appear_and_update_live(
    platform: Platform, page: Any, shoot: Any
) -> None:
    page.goto(platform.base + "/")
    page.wait_for_selector("#login-form")  # no session: the login page
    shoot(page, "login")
    login(page, platform.base)
    _wait(page, "() => Number(document.querySelector('#price-chart')?.dataset.bars) > 10")
    first = _dataset(page, "#price-chart")
    assert first["interval"] == "1m" and first["spacing"] == "60"
    # Live: the open bar grows and new bars arrive over /ws/market.
    _wait(
        page,
        """(before) => {
            const d = document.querySelector('#price-chart').dataset;
            return Number(d.updates) > Number(before.updates) + 3 && d.lastTime > before.lastTime;
        }""",
        first,
    )
    assert page.inner_text("#ws-status") == "live"
    legend = page.inner_text("#legend")
    assert first["symbol"] in legend and "C " in legend
    shoot(page, "market")


def test_interval_switcher_reloads_bars(platform: Platform, page: Any, shoot: Any) -> None:
    login(page, platform.base)
    _wait(page, "() => Number(document.querySelector('#price-chart')?.dataset.bars) > 0")
    for interval, spacing in (("5m", 300), ("60m", 3600), ("1d", 86_400)):
        page.click(f"#interval-{interval}")
        _wait(
            page,
            "(iv) => document.querySelector('#price-chart').dataset.interval === iv"
            " && Number(document.querySelector('#price-chart').dataset.bars) > 1",
            interval,
        )
        data = _dataset(page, "#price-chart")
        assert int(data["spacing"]) >= spacing and int(data["spacing"]) % spacing == 0, data
        assert f"interval={interval}" in page.url
        assert "active" in (page.get_attribute(f"#interval-{interval}", "class") or "")
        shoot(page, f"market-{interval}")
    # Weeks and months of trading days (25 backfilled days: several of each). A
    # holiday moves a period's start to its first session, so spacings vary.
    day = 86_400
    for interval, least, most in (("1w", 2 * day, 9 * day), ("1M", 20 * day, 40 * day)):
        page.click(f"#interval-{interval}")
        _wait(
            page,
            "(iv) => document.querySelector('#price-chart').dataset.interval === iv"
            " && Number(document.querySelector('#price-chart').dataset.bars) > 1",
            interval,
        )
        data = _dataset(page, "#price-chart")
        assert least <= int(data["spacing"]) <= most, data
        assert f"interval={interval}" in page.url
        assert "active" in (page.get_attribute(f"#interval-{interval}", "class") or "")
        shoot(page, f"market-{interval}")


def test_symbol_search(platform: Platform, page: Any) -> None:
    login(page, platform.base)
    _wait(page, "() => Number(document.querySelector('#price-chart')?.dataset.bars) > 0")
    page.fill("#symbol-search", "Kweichow")  # by company name
    page.press("#symbol-search", "Enter")
    _wait(page, "() => document.querySelector('#price-chart').dataset.symbol === '600519.SH'")
    page.fill("#symbol-search", "no-such-stock")
    page.press("#symbol-search", "Enter")
    page.wait_for_selector("#symbol-error:has-text('no symbol matches')")


def test_admin_changes_a_threshold_and_a_signal_marker_appears(
    platform: Platform, page: Any, shoot: Any
) -> None:
    login(page, platform.base)
    page.goto(platform.base + "/#/market?symbol=600036.SH&interval=1m")
    _wait(page, "() => document.querySelector('#price-chart')?.dataset.markers !== undefined")
    page.wait_for_selector("form.rule[data-rule='obi'] button.save")
    before = int(_dataset(page, "#price-chart")["markers"])
    # OBI moves within about +-0.3 here, so +-0.6 rarely fires; +-0.02 fires soon.
    page.fill("form.rule[data-rule='obi'] input[name=buy]", "0.02")
    page.fill("form.rule[data-rule='obi'] input[name=sell]", "-0.02")
    page.click("form.rule[data-rule='obi'] button.save")
    page.wait_for_selector("form.rule[data-rule='obi'] .msg:has-text('saved')")
    rule = httpx.get(
        f"{platform.base}/api/signal-rules/obi",
        headers={"Authorization": f"Bearer {platform.token('guest')}"},
    ).json()
    assert (rule["buy_above"], rule["sell_below"]) == (0.02, -0.02)
    _wait(
        page,
        "(n) => Number(document.querySelector('#price-chart').dataset.markers) > n",
        before,
        timeout=90_000,
    )
    page.wait_for_selector("#signals-table tbody tr td.side")
    shoot(page, "market-signals")


def test_guest_reads_but_cannot_change(platform: Platform, page: Any, shoot: Any) -> None:
    login(page, platform.base, "guest")
    page.wait_for_selector("form.rule[data-rule='obi']")
    assert page.locator("form.rule button.save").count() == 0
    assert page.get_attribute("form.rule[data-rule='obi'] input[name=buy]", "readonly") is not None
    page.goto(platform.base + "/#/logs")
    page.wait_for_selector("#logs-denied")
    shoot(page, "logs-guest")


def test_pipeline_page_shows_live_rates(platform: Platform, page: Any, shoot: Any) -> None:
    login(page, platform.base)
    page.goto(platform.base + "/#/pipeline")
    _wait(page, "() => Number(document.querySelector('#pipeline')?.dataset.samples) >= 3")
    assert int(_dataset(page, "#pipeline")["trades"]) > 0
    assert page.inner_text("#stat-trades-rate") not in ("", "–")
    page.wait_for_selector("#runtime dd:has-text('virtual')")
    shoot(page, "pipeline")


def test_logs_page_searches_and_tails_as_text(platform: Platform, page: Any, shoot: Any) -> None:
    # A failed login with markup as the user name lands in the audit log.
    payload = "<img src=x onerror=window.__xss=1>"
    r = httpx.post(f"{platform.base}/api/auth/token", data={"username": payload, "password": "x"})
    assert r.status_code == 401
    login(page, platform.base)
    page.goto(platform.base + "/#/logs")
    page.fill("#log-search", "login.failed")
    page.click("#log-search-button")
    page.wait_for_selector(f"#log-rows td.message:has-text('{payload}')")
    assert page.locator("#log-rows img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    # Live tail: a change made now appears without searching again.
    page.fill("#log-search", "")
    page.click("#log-search-button")
    page.wait_for_selector("#ws-status:has-text('live')")
    token = platform.token()
    created = httpx.post(
        f"{platform.base}/api/signal-rules",
        json={"id": "e2e-tail", "factor": "spread_bps", "buy_above": 1e9},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    page.wait_for_selector("#log-rows td.message:has-text('id=e2e-tail')")
    shoot(page, "logs")


XSS = [
    "<script>window.__xss = 'script'</script> $600036 to the moon",
    "<img src=x onerror=\"window.__xss = 'img'\"> China Merchants Bank dumping",
    '"><svg onload="window.__xss = \'svg\'"></svg> $600036 meh',
]


def test_sentiment_panel_shows_tweets_as_text(platform: Platform, page: Any, shoot: Any) -> None:
    from quantdesk.domain import ScoredTweet
    from quantdesk.storage import open_store

    # Stamped just after the simulated clock's "now", so they are the newest stored.
    sim_time = httpx.get(f"{platform.base}/health").json()["sim_time"]
    now = int(dt.datetime.fromisoformat(sim_time).timestamp() * 1000) + 60_000
    tweets = [
        ScoredTweet(f"99000000000000000{i}", now + i, text, ("600036.SH",), 0.5, "positive", "e2e")
        for i, text in enumerate(XSS)
    ]
    with open_store(f"sqlite:///{platform.data_dir / 'quantdesk.db'}") as store:
        assert store.upsert_tweets(tweets) == len(tweets)
    login(page, platform.base)
    page.goto(platform.base + "/#/sentiment?symbol=600036.SH")
    for text in XSS:
        page.wait_for_selector(f"#tweets li.tweet p.text:text-is({text!r})")
    assert page.locator("#tweets script, #tweets img, #tweets svg").count() == 0
    assert page.evaluate("() => window.__xss") is None
    _wait(page, "() => Number(document.querySelector('#sentiment-chart')?.dataset.points) > 0")
    assert page.inner_text("#sentiment-ewma") not in ("", "–")
    # New tweets arrive live (the "tweet" messages of /ws/market), newest first.
    newest = page.get_attribute("#tweets li.tweet", "data-id")
    _wait(page, "(id) => document.querySelector('#tweets li.tweet').dataset.id !== id", newest)
    shoot(page, "sentiment")


def test_audit_log_on_the_logs_page_as_text(platform: Platform, page: Any, shoot: Any) -> None:
    """Failed logins (markup as the name) and key changes appear in the audit table as text."""
    payload = "<img src=x onerror=window.__xss_audit=1>"
    r = httpx.post(f"{platform.base}/api/auth/token", data={"username": payload, "password": "x"})
    assert r.status_code == 401
    made = httpx.post(
        f"{platform.base}/api/keys",
        json={"user": "test", "scope": "read", "name": "e2e"},
        headers={"Authorization": f"Bearer {platform.token()}"},
    )
    assert made.status_code == 201, made.text
    login(page, platform.base)
    page.goto(platform.base + "/#/logs")
    page.wait_for_selector("#audit-rows td:has-text('key.create')")
    page.fill("#audit-action", "login.failed")
    page.click("#audit-search-button")
    # the unfiltered rows already show the payload: wait for the filtered table instead
    page.wait_for_selector("#audit-rows td:has-text('key.create')", state="detached")
    page.wait_for_selector(f"#audit-rows td:has-text('{payload}')")
    assert page.locator("#audit-rows td:has-text('key.create')").count() == 0
    assert page.locator("#audit-rows img").count() == 0
    assert page.evaluate("() => window.__xss_audit") is None
    shoot(page, "audit")
