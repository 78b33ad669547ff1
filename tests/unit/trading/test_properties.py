"""Property tests over random order streams against the paper broker.

Whatever the stream of orders, books and bars: T+1 is never violated, cash
never goes negative, lots are respected, every fee equals its formula, and
the ledger rebuilt from the stored fills is the account the broker holds.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantdesk.domain.messages import Bar
from quantdesk.domain.trading import OrderStatus, OrderType, Side, TimeInForce, money
from quantdesk.errors import OrderRejected
from quantdesk.trading.brokers.paper import PaperBroker
from quantdesk.trading.journal import MemoryJournal
from quantdesk.trading.ledger import Ledger
from quantdesk.trading.orders import OrderRequest, counter_ids
from tests.unit.trading.helpers import at, book, cn, trading_days

SYMS = ("600000.SH", "300750.SZ")
DAYS = trading_days(5)
SLOTS = [(h, m) for h in (9, 10, 11, 13, 14) for m in (31, 45)] + [(15, 30), (8, 0)]

order_event = st.tuples(
    st.just("order"),
    st.sampled_from(SYMS),
    st.sampled_from([Side.BUY, Side.BUY, Side.SELL]),
    st.sampled_from([100, 200, 300, 500, 1000, 2500, 150, "all", "all"]),
    st.one_of(st.none(), st.integers(-15, 15), st.integers(-120, 120)),  # limit, ticks from 10
    st.sampled_from(list(TimeInForce)),
)
book_event = st.tuples(
    st.just("book"),
    st.sampled_from(SYMS),
    st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 3000)), min_size=1, max_size=3),
)
bar_event = st.tuples(
    st.just("bar"),
    st.sampled_from(SYMS),
    st.integers(-100, 100),
    st.integers(0, 20000),
)
cancel_event = st.tuples(st.just("cancel"), st.integers(0, 30))
streams = st.lists(
    st.tuples(
        st.integers(0, len(DAYS) - 1),
        st.sampled_from(SLOTS),
        st.one_of(order_event, order_event, order_event, cancel_event),
        st.one_of(book_event, bar_event),
    ),
    min_size=5,
    max_size=30,
).map(lambda evs: sorted(evs, key=lambda e: (e[0], e[1])))


Stream = list[tuple[int, tuple[int, int], tuple[object, ...], tuple[object, ...]]]


def run(stream: Stream, cash: str) -> PaperBroker:
    rules = cn()
    broker = PaperBroker(rules, MemoryJournal(), cash=D(cash), ids=counter_ids())
    d0 = rules.day_of(at(DAYS[0], 10, 0))
    for sym in SYMS:
        broker.market.seed_close(sym, 10.0, d0 - 1)
    submitted: list[str] = []
    last_t = 0
    # the market data after an order is mostly about the order's symbol
    events = [
        (d, hm, ev)
        for d, hm, a, b in stream
        for ev in (a, (b[0], a[1], *b[2:]) if a[0] == "order" and hm[1] == 31 else b)
    ]
    for day, (hh, mm), ev in events:
        t = max(at(DAYS[day], hh, mm), last_t + 1)
        last_t = t
        kind = ev[0]
        if kind == "order":
            _, sym, side, qty, offset, tif = ev
            if qty == "all":  # what the position holds now (a sell may still be too early)
                qty = max(100, broker.ledger.quantity(sym))  # type: ignore[arg-type]
            limit = None if offset is None else D("10.00") + D("0.01") * offset  # type: ignore[operator]
            req = OrderRequest(
                sym,  # type: ignore[arg-type]
                side,  # type: ignore[arg-type]
                qty,  # type: ignore[arg-type]
                OrderType.MARKET if limit is None else OrderType.LIMIT,
                limit,
                tif,  # type: ignore[arg-type]
            )
            with contextlib.suppress(OrderRejected):
                submitted.append(broker.submit(req, t).id)
        elif kind == "book":
            _, sym, levels = ev
            asks = [(10.0 + 0.01 * k + 0.01, float(s)) for k, s in sorted(levels)]  # type: ignore[union-attr]
            bids = [(10.0 - 0.01 * k, float(s)) for k, s in sorted(levels, reverse=True)]  # type: ignore[union-attr]
            broker.on_book(book(sym, t, bids, asks))  # type: ignore[arg-type]
        elif kind == "bar":
            _, sym, offset, volume = ev
            o = 10.0 + 0.01 * offset  # type: ignore[operator]
            broker.on_bar(Bar(sym, "1m", t, o, o + 0.05, o - 0.05, o, float(volume), o, 1))  # type: ignore[arg-type]
        elif submitted:
            oid = submitted[ev[1] % len(submitted)]  # type: ignore[operator]
            if broker.open_order(oid) is not None:
                broker.cancel(oid, t)
        check_live(broker)
    return broker


def check_live(broker: PaperBroker) -> None:
    led = broker.ledger
    assert led.cash >= 0
    assert led.total_frozen_cash >= 0
    for h in led.holdings.values():
        assert h.quantity >= 0 and h.frozen >= 0
        assert h.frozen <= h.quantity


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams, cash=st.sampled_from(["3000", "20000", "1000000", "1000000"]))
def test_random_order_streams_keep_the_invariants(stream: Stream, cash: str) -> None:
    broker = run(stream, cash)
    rules = broker.rules
    fills = broker.journal.load_fills()
    orders = {o.id: o for o in broker.journal.load_orders()}

    # lots: every buy in whole lots (positions stay whole lots, so sells too)
    assert all(f.quantity % 100 == 0 for f in fills)
    for o in orders.values():
        if o.status is not OrderStatus.REJECTED:
            assert o.quantity % 100 == 0

    # T+1: a sell never uses shares bought on its own trading day
    bought_before: dict[str, int] = defaultdict(int)
    sold: dict[str, int] = defaultdict(int)
    by_day: dict[tuple[str, int], int] = defaultdict(int)
    for f in fills:
        day = rules.day_of(f.time)
        assert rules.in_session(f.time)
        if f.side is Side.BUY:
            by_day[f.symbol, day] += f.quantity
        else:
            settled = sum(q for (s, d), q in by_day.items() if s == f.symbol and d < day)
            sold[f.symbol] += f.quantity
            assert sold[f.symbol] <= settled
    del bought_before

    # fees equal the formulas (commission: per order, with its minimum)
    value: dict[str, D] = defaultdict(D)
    comm: dict[str, D] = defaultdict(D)
    for f in fills:
        date = rules.date_of_day(rules.day_of(f.time))
        v = f.price * f.quantity
        assert f.transfer_fee == money(D("0.00001") * v)
        assert f.stamp_duty == (money(D("0.0005") * v) if f.side is Side.SELL else 0)
        value[f.order_id] += v
        comm[f.order_id] += f.commission
        assert date.year == 2024
    for oid, v in value.items():
        assert comm[oid] == max(D("5"), money(D("0.00025") * v))
        assert orders[oid].commission == comm[oid]
        assert orders[oid].filled_value == v
        assert orders[oid].filled_quantity == sum(f.quantity for f in fills if f.order_id == oid)

    # the ledger rebuilt from the fills is the account
    rebuilt = Ledger.rebuild(rules, broker.ledger.initial_cash, fills)
    assert rebuilt.state() == broker.ledger.state()
    assert rebuilt.cash >= 0
    expected = broker.ledger.initial_cash + sum((f.cash_flow for f in fills), D(0))
    assert broker.ledger.cash == expected
