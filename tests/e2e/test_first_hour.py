"""What a new user met in the first hour, in real Chromium against `quantdesk run` at 1x.

A bad address says so; the Pipeline rates, the Sentiment panes and the factor
pane use their width (at 1x a fresh start has seconds of data: the charts used
to squeeze it against the right edge) and leave room for the last time label
(it was clipped, "09:33:4"); /docs and /redoc work with no internet. Charts
draw on canvas: each mirrors where it draws in data-* attributes
(``describeGeometry`` in static/js/charts.js).
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Platform, login

SPEED = "1"
ENV = {"QUANTDESK_SENTIMENT_RATE": "3"}  # a few tweets a second: sentiment within seconds


def _geometry(page: Any, selector: str) -> dict[str, float]:
    data = page.eval_on_selector(selector, "el => ({...el.dataset})")
    return {k: float(v) for k, v in data.items() if k in ("firstX", "lastX", "plotWidth")}


def _wait_points(page: Any, selector: str, n: int, attr: str = "points") -> None:
    page.wait_for_function(
        "([sel, n, attr]) => Number(document.querySelector(sel)?.dataset[attr]) >= n",
        arg=[selector, n, attr],
        timeout=120_000,
    )


def _assert_fills_width(geo: dict[str, float], name: str) -> None:
    width = geo["plotWidth"]
    assert geo["firstX"] <= 0.15 * width, (name, geo)  # starts at the left, not squeezed right
    # the newest point is at the right, with room for its time label (never cut by the
    # price scale: half of "09:33:45" is ~25 px)
    assert 0.7 * width <= geo["lastX"] <= width - 30, (name, geo)


def test_a_bad_address_says_so(platform: Platform, page: Any, shoot: Any) -> None:
    login(page, platform.base)
    page.goto(platform.base + "/#/market?symbol=ZZZ.SH&interval=7m")
    notice = page.wait_for_selector("#route-notice:has-text('ZZZ.SH')")
    text = notice.inner_text()
    assert 'Unknown symbol "ZZZ.SH"' in text and 'Unknown interval "7m"' in text
    page.wait_for_function("() => document.querySelector('#price-chart')?.dataset.symbol")
    shown = page.eval_on_selector("#price-chart", "el => el.dataset.symbol")
    assert shown and shown in text  # it says what it shows instead
    shoot(page, "first-hour-bad-address")
    page.goto(platform.base + "/#/market?symbol=600036&interval=5m")  # a bare code is fine
    page.wait_for_function(
        "() => document.querySelector('#price-chart')?.dataset.symbol === '600036.SH'"
    )
    assert page.inner_text("#route-notice") == ""
    page.goto(platform.base + "/#/sentiment?symbol=nope")
    page.wait_for_selector("#route-notice:has-text('Unknown symbol \"nope\"')")
    page.goto(platform.base + "/#/no-such-page")
    page.wait_for_selector("#not-found:has-text('#/no-such-page')")
    assert page.query_selector("#price-chart") is None  # not silently the market page
    shoot(page, "first-hour-unknown-route")


def test_pipeline_rates_use_the_full_width(platform: Platform, page: Any, shoot: Any) -> None:
    login(page, platform.base)
    page.goto(platform.base + "/#/pipeline")
    _wait_points(page, "#pipeline", 8, "samples")
    page.wait_for_timeout(300)  # the chart lays the last update out on the next frame
    _assert_fills_width(_geometry(page, "#rates-chart"), "rates")
    shoot(page, "first-hour-pipeline")


def test_factor_pane_fills_and_keeps_its_time_axis(
    platform: Platform, page: Any, shoot: Any
) -> None:
    login(page, platform.base)
    page.goto(platform.base + "/#/market?symbol=600036.SH")
    _wait_points(page, "#factor-chart", 8)
    page.reload()  # the stored points load into a fitted pane
    _wait_points(page, "#factor-chart", 8)
    page.wait_for_timeout(500)
    _assert_fills_width(_geometry(page, "#factor-chart"), "factor pane")
    shoot(page, "first-hour-factors")


def test_sentiment_pane_is_not_squeezed(platform: Platform, page: Any, shoot: Any) -> None:
    login(page, platform.base)
    page.goto(platform.base + "/#/sentiment?symbol=600036.SH")
    _wait_points(page, "#sentiment-chart", 3)
    page.reload()
    _wait_points(page, "#sentiment-chart", 3)
    page.wait_for_timeout(500)
    geo = _geometry(page, "#sentiment-chart")
    assert geo["firstX"] <= 0.15 * geo["plotWidth"], geo
    heights = [
        float(h)
        for h in page.eval_on_selector("#sentiment-chart", "el => el.dataset.paneHeights").split(
            ","
        )
    ]
    assert len(heights) == 2 and heights[1] >= 0.3 * sum(heights), heights
    shoot(page, "first-hour-sentiment")


def test_api_docs_work_offline(platform: Platform, page: Any, shoot: Any) -> None:
    elsewhere: list[str] = []

    def only_local(route: Any) -> None:
        url = route.request.url
        if url.startswith(platform.base) or url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    page.route("**/*", only_local)
    blocked: list[str] = []
    page.on(
        "console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None
    )
    page.goto(platform.base + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() > 10
    assert page.locator(".opblock-summary-path:has-text('/api/klines')").count() >= 1
    shoot(page, "first-hour-docs")
    page.goto(platform.base + "/redoc")
    page.wait_for_function("() => document.body.innerText.includes('/api/klines')", timeout=30_000)
    shoot(page, "first-hour-redoc")
    assert elsewhere == []  # nothing asked of the network beyond this server
    # the page's own policy kept ReDoc's remote logo out; nothing it needs was blocked
    assert all(m.startswith("Loading the image 'https://cdn.redoc.ly/") for m in blocked), blocked
