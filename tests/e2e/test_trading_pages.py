"""The Orders & positions and Backtests pages in real headless Chromium against a real
``quantdesk run`` (its paper account, idle ``t1`` strategy: only the admin trades here).

The order ticket places a market buy that fills at the next 5-minute bar (5 wall seconds
at ``--speed 60``); bad input is refused with the server's one line; a resting limit
order is cancelled from its row; the trading state is switched and the alert arrives
live. A backtest stored by ``quantdesk.backtest()`` shows its curves and trades.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx

from tests.e2e.conftest import ROOT, Platform, login

SYMBOL = "600036.SH"


def _wait(page: Any, js: str, arg: Any = None, timeout: float = 90_000) -> None:
    page.wait_for_function(js, arg=arg, timeout=timeout)


def _dataset(page: Any, selector: str) -> dict[str, str]:
    return dict(page.eval_on_selector(selector, "el => ({...el.dataset})"))


def test_orders_page_ticket_fills_refusals_cancel_and_risk(
    platform: Platform, page: Any, shoot: Any
) -> None:
    login(page, platform.base)
    page.click("a[data-route=orders]")
    page.wait_for_selector("#orders-page")
    _wait(page, "() => document.querySelector('#acct-equity').textContent !== '–'")
    assert "live account" in page.inner_text("#account-source")
    _wait(page, "() => document.querySelector('#ws-status').textContent === 'live'")

    # bad input: one line from the server, nothing placed
    page.fill("#ticket-symbol", SYMBOL)
    page.fill("#ticket-quantity", "150")
    page.click("#ticket-submit")
    page.wait_for_selector("#ticket-result.refused:has-text('multiple of 100')")
    page.fill("#ticket-symbol", "999999.SH")
    page.fill("#ticket-quantity", "100")
    page.click("#ticket-submit")
    page.wait_for_selector("#ticket-result.refused:has-text('unknown symbol')")

    # a market buy: accepted now, filled at the next bar's open, shown live
    before = int(_dataset(page, "#orders-page").get("updates", "0"))
    page.fill("#ticket-symbol", SYMBOL)
    page.select_option("#ticket-side", "buy")
    page.fill("#ticket-quantity", "200")
    page.click("#ticket-submit")
    page.wait_for_selector("#ticket-result.ok:has-text('accepted')")
    _wait(page, f"() => !!document.querySelector('#positions-rows tr[data-symbol=\"{SYMBOL}\"]')")
    assert int(_dataset(page, "#orders-page")["updates"]) > before  # over /ws/orders
    row = page.inner_text(f"#positions-rows tr[data-symbol='{SYMBOL}']")
    assert "200" in row
    _wait(page, "() => Number(document.querySelector('#orders-page').dataset.fills) >= 1")
    assert SYMBOL in page.inner_text("#fills-rows")
    shoot(page, "orders")

    # a resting limit buy far below the market, cancelled from its row
    price = httpx.get(
        f"{platform.base}/api/v2/trading/positions",
        headers={"Authorization": f"Bearer {platform.token()}"},
        timeout=10,
    ).json()[0]["last_price"]
    page.select_option("#ticket-type", "limit")
    page.fill("#ticket-quantity", "100")
    page.fill("#ticket-limit", f"{round(price * 0.95, 2):.2f}")
    page.click("#ticket-submit")
    page.wait_for_selector("#ticket-result.ok:has-text('accepted')")
    page.wait_for_selector("#open-orders-rows button.cancel")
    page.click("#open-orders-rows button.cancel")
    page.wait_for_selector("#ticket-result:has-text('cancelled')")
    _wait(page, "() => !document.querySelector('#open-orders-rows button.cancel')")

    # risk: halt, the alert arrives over /ws/risk-alerts, a buy is denied; back to active
    alerts = int(_dataset(page, "#orders-page")["alerts"])
    page.click("#state-buttons .seg[data-state=halted]")
    _wait(page, "() => document.querySelector('#orders-page').dataset.state === 'halted'")
    _wait(page, f"() => Number(document.querySelector('#orders-page').dataset.alerts) > {alerts}")
    assert "halted" in page.inner_text("#risk-alerts li:first-child")
    page.select_option("#ticket-type", "market")
    page.click("#ticket-submit")
    page.wait_for_selector("#ticket-result.refused:has-text('halted')")
    shoot(page, "orders-halted")
    page.click("#state-buttons .seg[data-state=active]")
    _wait(page, "() => document.querySelector('#orders-page').dataset.state === 'active'")
    assert page.eval_on_selector("#equity-chart", "el => Number(el.dataset.points)") >= 1


def test_guest_sees_the_account_but_no_ticket(platform: Platform, page: Any) -> None:
    login(page, platform.base, "guest")
    page.goto(f"{platform.base}/#/orders")
    page.wait_for_selector("#ticket-readonly")
    assert page.query_selector("#order-ticket") is None
    assert page.query_selector("#state-buttons") is None
    _wait(page, "() => document.querySelector('#acct-equity').textContent !== '–'")


def test_backtests_page_shows_a_stored_run(platform: Platform, page: Any, shoot: Any) -> None:
    env = {**os.environ, "QUANTDESK_DATA_DIR": str(platform.data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("QUANTDESK_DATABASE_URL", None)
    code = (
        "import quantdesk; r = quantdesk.backtest(strategy='ma_cross', market='cn', "
        "interval='1d', fast=3, slow=8); print(r.run_id, r.stats['trades'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run_id, trades = done.stdout.split()[-2:]
    assert int(trades) > 0

    login(page, platform.base)
    page.click("a[data-route=backtests]")
    page.wait_for_selector(f"#runs-rows tr[data-id='{run_id}']")
    _wait(page, f"() => document.querySelector('#backtests-page').dataset.open === '{run_id}'")
    assert "ma_cross" in page.inner_text("#run-summary h3")
    stats = page.inner_text("#run-stats")
    assert "total return" in stats and "%" in stats
    _wait(page, "() => Number(document.querySelector('#bt-equity-chart').dataset.points) > 5")
    _wait(page, "() => Number(document.querySelector('#bt-drawdown-chart').dataset.points) > 5")
    assert int(_dataset(page, "#run-detail")["trades"]) == int(trades)
    assert "buy" in page.inner_text("#trades-rows")
    shoot(page, "backtests")
    # the address names the run: a reload opens it again
    page.reload()
    _wait(page, f"() => document.querySelector('#backtests-page').dataset.open === '{run_id}'")
