"""The paper account inside ``quantdesk run``: the runner's outputs feed a TradingDesk.

:func:`attach` opens the live :class:`~quantdesk.trading.desk.TradingDesk`
(``QUANTDESK_TRADING``, on by default, with the broker of ``QUANTDESK_BROKER``:
``paper`` by default, or e.g. ``alpaca``, whose orders are routed to Alpaca through a
:class:`~quantdesk.trading.brokers.routed.RoutedAccount`; and ``QUANTDESK_STRATEGY``)
on the runner's store and wires it:

* **bars and signals** of the stream reach the desk: with the in-process bus
  from the runner's output listeners (the very objects the sinks store); with
  Kafka, where workers process most symbols, from a tail reader of the
  ``bars`` and ``signals`` topics;
* **event time**: after each slice the runner has processed, the desk steps
  every bar time of its interval that ended by then (with Kafka, two slices
  later, so the workers' bars are in: a decision made later trades at the same
  next bar, so nothing changes but the wall-clock moment);
* **books** reach it only when fills are ``books`` (``QUANTDESK_PAPER_FILLS``);
* **orders, fills and risk alerts** go out on the bus (``orders``, ``fills``,
  ``alerts`` topics; the API's hub forwards them to ``/ws/orders``,
  ``/ws/risk-alerts`` and ``/ws/enhanced``);
* **control** messages for ``order`` and ``risk`` (an API in another process:
  :mod:`quantdesk.trading.remote`) are applied by the runner's control listener;
* the account starts **warm**: the last stored bars of the strategy's
  interval give it prices (and the strategy its warm-up), and bar times it
  stepped before a restart are not stepped again.

The permission table (``stock_permissions``: board, ST, suspended) feeds the
market rules and the risk checks, reloaded at each new trading day.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from quantdesk.bus import MessageError, decode
from quantdesk.domain.messages import Bar, BookSnapshot, Signal
from quantdesk.trading.desk import TradingDesk
from quantdesk.trading.remote import desk_handlers

if TYPE_CHECKING:
    from quantdesk.bus import Subscription
    from quantdesk.runtime.pipeline import Output
    from quantdesk.runtime.runner import Runner

__all__ = ["TradingLink", "attach"]

log = logging.getLogger("quantdesk.runtime.trading")

#: Kafka: how far behind the runner's event time the desk steps (workers' bars arrive).
KAFKA_LAG_MS = 2 * 60_000


class TradingLink:
    """The desk and how the runner feeds it."""

    def __init__(self, desk: TradingDesk, reader: Subscription | None, lag_ms: int) -> None:
        self.desk = desk
        self.reader = reader
        self.lag_ms = lag_ms
        self.bad = 0

    def on_output(self, out: Output) -> None:
        if out.bars or out.signals:
            self.desk.on_output(out.bars, out.signals)

    def on_events(self, events: Sequence[Any]) -> None:
        if self.desk.fills == "books":
            for ev in events:
                if isinstance(ev, BookSnapshot):
                    self.desk.on_book(ev)

    def after(self, until: int) -> None:
        """The runner processed everything before ``until``."""
        if self.reader is not None:
            self._read()
        self.desk.advance(until - self.lag_ms)

    def _read(self) -> None:
        assert self.reader is not None
        while True:
            messages = self.reader.poll(5_000, 0.0)
            if not messages:
                return
            bars: list[Bar] = []
            signals: list[Signal] = []
            for m in messages:
                try:
                    obj = decode(m.value)
                except MessageError:
                    self.bad += 1
                    continue
                if isinstance(obj, Bar):
                    bars.append(obj)
                elif isinstance(obj, Signal):
                    signals.append(obj)
            self.desk.on_output(bars, signals)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        self.desk.broker.close()  # a remote broker's stream and connections
        self.desk.store.close()


def attach(runner: Runner, position: int) -> TradingLink | None:
    """Open and wire the desk of ``runner`` (None when it does not trade)."""
    settings = runner.settings
    if not settings.trading:
        runner.echo("Trading: off (QUANTDESK_TRADING=false)")
        return None
    engine = runner.store.engine
    desk = TradingDesk.open(
        settings,
        engine,
        [m.symbol for m in runner.universe],
        market=runner.market,
        clock=lambda: runner.sim_time,
        permissions=TradingDesk.permissions_from(engine, runner.market),
    )
    desk.resume_after_stored_steps()
    seeded = desk.seed_from(runner.store, position)
    bus = runner.bus
    desk.add_listener(bus.send)
    reader = None
    lag = 0
    if runner.in_process:
        runner.output_listeners.append(lambda out: link.on_output(out))
    else:
        reader = bus.tail([bus.topics.bars, bus.topics.signals])
        lag = KAFKA_LAG_MS
    link = TradingLink(desk, reader, lag)
    control = runner.consumer.control
    if control is not None:
        control.handlers.update(desk_handlers(desk))
    acct = desk.account()
    where = (
        f"the paper account ({desk.interval} bars, fills on {desk.fills}"
        if settings.broker == "paper"
        else f"the {settings.broker} account ({desk.interval} bars, filled by {settings.broker}"
    )
    runner.echo(
        f"Trading: {desk.strategy_name} on {where};"
        f" equity {acct.equity:,.2f} {acct.currency}; {seeded} bar time(s) seeded)"
    )
    return link
