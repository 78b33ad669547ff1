"""The process the SIGKILL test kills: a paper broker placing orders against a SQLite store.

``python -m tests.unit.trading.sigkill_child DB STEPS`` resumes where the
store says it stopped (client order ids ``c0``, ``c1`` ... are idempotent),
and for every step places one order, sometimes cancels one, and feeds one book
snapshot. Everything is a function of the step number, so a restarted process
carries on with the same script.
"""

from __future__ import annotations

import random
import sys
from decimal import Decimal

from quantdesk.domain.messages import BookSnapshot
from quantdesk.domain.trading import OrderType, Side, TimeInForce
from quantdesk.storage.sql import engine_for
from quantdesk.storage.trading import TradingStore
from quantdesk.trading.brokers.paper import PaperBroker
from quantdesk.trading.orders import OrderRequest
from tests.unit.trading.helpers import cn, trading_days

SYMS = ("600000.SH", "000001.SZ")


def step_times(n: int) -> list[int]:
    rules = cn()
    out: list[int] = []
    for day in trading_days(6):
        out += [int(t) for t in rules.calendar.session_minutes(day)]
    return out[:n]


def main(db: str, steps: int) -> None:
    rules = cn()
    store = TradingStore(engine_for(f"sqlite:///{db}"))
    broker = PaperBroker(rules, store, cash=Decimal("200000"))
    times = step_times(steps)
    first_day = rules.day_of(times[0])
    for sym in SYMS:
        broker.market.seed_close(sym, 10.0, first_day - 1)
    done = {o.client_order_id for o in store.load_orders()}
    start = max((int(c[1:]) for c in done), default=0)
    print("ready", flush=True)
    for i in range(start, steps):
        rnd = random.Random(i)
        t = times[i]
        sym = SYMS[i % 2]
        side = Side.SELL if rnd.random() < 0.4 else Side.BUY
        qty = rnd.choice([100, 200, 500, 1000])
        if side is Side.SELL:
            qty = broker.ledger.sellable(sym, rules.day_of(t)) or qty
        limit = (
            None if rnd.random() < 0.5 else Decimal("10.00") + Decimal("0.01") * rnd.randint(-8, 8)
        )
        req = OrderRequest(
            sym,
            side,
            qty,
            OrderType.MARKET if limit is None else OrderType.LIMIT,
            limit,
            rnd.choice([TimeInForce.DAY, TimeInForce.GTC]),
            client_order_id=f"c{i}",
        )
        broker.submit(req, t)
        if i % 7 == 3:
            for o in broker.orders(open_only=True)[:1]:
                broker.cancel(o.id, t + 1)
        mid = 10.0 + 0.01 * rnd.randint(-6, 6)
        levels = [(round(mid + 0.01 * k, 2), float(rnd.randint(50, 800))) for k in range(1, 4)]
        bids = tuple((round(mid - 0.01 * k, 2), s) for k, s in enumerate([300.0, 500.0, 900.0]))
        broker.on_book(BookSnapshot(SYMS[(i + 1) % 2], t + 30_000, bids, tuple(levels)))
        broker.on_book(BookSnapshot(sym, t + 30_001, bids, tuple(levels)))
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
