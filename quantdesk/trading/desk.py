"""The live paper account of ``quantdesk run``: one strategy, risk engine and broker, stored.

A :class:`TradingDesk` wraps a :class:`~quantdesk.trading.session.TradingSession`
(the backtester's step with the same objects) on a stored journal
(:class:`~quantdesk.storage.trading.TradingStore`: orders, fills, alerts, the
equity curve, the admin's risk settings) and serves three callers:

===============  ====================================================================
caller           what it calls
===============  ====================================================================
the runner       :meth:`on_output` with what the stream produced (final bars of the
                 strategy's interval, signals), :meth:`advance` when event time has
                 reached a point (every bar ending by then is final), and
                 :meth:`on_book` (only when the broker fills on live books)
the API          :meth:`submit`, :meth:`cancel`, :meth:`set_limits`,
                 :meth:`set_state` (admin), and the reads (:meth:`account` ...)
the jobs         :meth:`halves` (``sell``/``buy`` run t1's halves) and
                 :meth:`settle_day` (``order_sync``)
===============  ====================================================================

Every call holds one lock: the runner's thread and the API's threads take turns.
Orders, fills and risk alerts go to the listeners (:meth:`add_listener`: the
runtime publishes them on the bus, whence the WebSocket channels).

**Fills.** ``QUANTDESK_PAPER_FILLS=bars`` (default): the broker fills as the
backtester does, an order decided at a bar's close trades at the next bar's
open of the strategy's interval (within the volume share), manual orders
included; books are not used at all, so a recorded session replayed through
the backtester gives the same fills (tested). ``books``: orders walk the live
order book (at once when a book of the day is known, else at the next one);
more like a real broker, but not reproducible by the bar backtester.

**Broker.** ``QUANTDESK_BROKER=paper`` (default): the platform's paper broker,
as above. Any other registered broker (``alpaca``): the desk trades through a
:class:`~quantdesk.trading.brokers.routed.RoutedAccount`, the same strategy and
risk engine with every order stored, then sent to that broker, which fills it;
its fills are stored once and booked in the desk's ledger (``QUANTDESK_PAPER_FILLS``
does not apply).

**Time.** Decisions and manual orders take the time of the market the runner
plays (``clock``: the runtime's event time, virtual or wall), never the host's
clock, so a simulated day trades on its own calendar.

**Restart.** The broker rebuilds the account from the stored fills and open
orders; the risk limits and a state set by an admin come back from
``risk_settings``; the equity curve continues in ``account_equity``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from quantdesk.domain.messages import Bar, BookSnapshot, Signal
from quantdesk.domain.trading import (
    Account,
    Fill,
    Order,
    OrderStatus,
    Position,
    RiskAlert,
    Side,
    TradingState,
    money,
)
from quantdesk.errors import ConfigError, OrderRejected
from quantdesk.risk.engine import RiskEngine
from quantdesk.risk.limits import RiskLimits
from quantdesk.trading.brokers import BROKERS
from quantdesk.trading.brokers.paper import PaperBroker
from quantdesk.trading.brokers.routed import RoutedAccount
from quantdesk.trading.market import MarketRules, rules_for
from quantdesk.trading.orders import OrderRequest, random_ids
from quantdesk.trading.permissions import PermissionView
from quantdesk.trading.session import TradingSession
from quantdesk.trading.steps import schedule
from quantdesk.trading.strategies import make_strategy
from quantdesk.trading.strategies.base import Strategy
from quantdesk.trading.strategies.predictions import PredictionSource, StoredPredictions

if TYPE_CHECKING:
    import sqlalchemy as sa

    from quantdesk.config.settings import Settings
    from quantdesk.jobs.services import TradingDay
    from quantdesk.storage.trading import TradingStore

__all__ = ["FILL_MODES", "RiskStatus", "T1Halves", "TradingDesk", "Update"]

log = logging.getLogger("quantdesk.trading.desk")
audit = logging.getLogger("quantdesk.audit")

FILL_MODES: Final = ("bars", "books")
#: What the desk hands its listeners.
Update = Order | Fill | RiskAlert


@dataclass(frozen=True, slots=True)
class RiskStatus:
    """The risk engine as the API shows it."""

    state: TradingState
    set_by_admin: bool
    limits: RiskLimits
    denials: dict[str, int]


class TradingDesk:
    """The live account (see the module docstring)."""

    def __init__(
        self,
        session: TradingSession,
        store: TradingStore,
        *,
        market: str,
        clock: Callable[[], int | None] | None = None,
        fills: str = "bars",
        strategy_name: str = "",
    ) -> None:
        if fills not in FILL_MODES:
            raise ConfigError(f"QUANTDESK_PAPER_FILLS: use bars or books (got {fills!r})")
        self.session = session
        self.store = store
        self.market = market
        self.fills = fills
        self.strategy_name = strategy_name or session.trader.strategy.name
        self.broker: PaperBroker | RoutedAccount = session.broker
        self.risk: RiskEngine = session.risk
        self.rules: MarketRules = session.rules
        self.interval = session.interval
        self._clock = clock
        #: a routed account applies its broker's updates under the same lock
        self.lock: threading.RLock = getattr(self.broker, "lock", None) or threading.RLock()
        self.now = self.broker.now
        self._bars: dict[int, dict[str, Bar]] = {}
        self._decisions: dict[int, int] = {}
        self._stepped = -1
        self.late_bars = 0
        self.steps = 0
        self._day = -1
        self._listeners: list[Callable[[Update], None]] = []
        self.broker.add_listener(self._forward)
        self.risk.add_listener(self._forward)

    # -- construction -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        settings: Settings,
        engine: sa.Engine,
        symbols: Sequence[str],
        *,
        market: str | None = None,
        strategy: Strategy | str | None = None,
        clock: Callable[[], int | None] | None = None,
        predictions: PredictionSource | None = None,
        permissions: PermissionView | None = None,
        account: str = "paper",
        interval: str | None = None,
    ) -> TradingDesk:
        """The desk of ``settings`` on ``engine``'s database for ``symbols``.

        ``strategy`` defaults to ``QUANTDESK_STRATEGY``; predictions to the
        store's ``predictions`` table; ``permissions`` (board, ST, suspended) to
        none (pass :meth:`permissions_from` of the store); ``interval`` to the
        strategy's own.
        """
        from quantdesk.storage.trading import TradingStore

        mkt = (market or settings.market).lower()
        fills = settings.paper_fills
        rules = rules_for(mkt, settings)
        if permissions is not None:
            rules = rules.with_permissions(permissions)
        strat = (
            strategy
            if isinstance(strategy, Strategy)
            else make_strategy(strategy or settings.strategy, settings)
        )
        store = TradingStore(
            engine,
            account,
            checkpoint_seconds=1.0 if engine.dialect.name == "sqlite" else None,
        )
        stored = store.load_risk_settings()
        limits = RiskLimits.from_settings(settings)
        if stored.get("limits"):
            try:
                limits = limits.updated(**stored["limits"])
            except ConfigError as exc:
                log.warning("stored risk limits ignored: %s", exc)
        ids = random_ids()
        remote = None
        if settings.broker != "paper":  # orders go to that broker (QUANTDESK_BROKER)
            remote = BROKERS.get(settings.broker).from_settings(settings)  # type: ignore[attr-defined]
        session = TradingSession.create(
            strat,
            rules,
            symbols,
            store,
            interval=interval,
            cash=money(settings.paper_cash),
            limits=limits,
            predictions=predictions if predictions is not None else StoredPredictions(engine),
            ids=ids,
            alert_ids=ids,
            fill_volume_share=settings.fill_volume_share,
            slippage_ticks=settings.slippage_ticks,
            match_bars=fills == "bars",
            remote=remote,
        )
        if permissions is not None:
            permissions.attach_cache(session.broker.market._bands)
        desk = cls(session, store, market=mkt, clock=clock, fills=fills, strategy_name=strat.name)
        state = stored.get("state")
        value = (state or {}).get("state")
        if value in {s.value for s in TradingState} and value != TradingState.ACTIVE.value:
            desk.risk.set_state(TradingState(value), desk.broker.now, "restored: set by an admin")
        return desk

    @staticmethod
    def permissions_from(engine: sa.Engine, market: str) -> PermissionView:
        """A view of the store's ``stock_permissions`` for ``market``."""
        from quantdesk.storage.permissions import PermissionRepository

        repo = PermissionRepository(engine)
        repo.create_tables()
        return PermissionView(lambda: repo.all(market))

    def seed_from(self, store: Any, upto: int) -> int:
        """Warm start from the stored bars before ``upto``, untraded.

        The history gets the last ``warmup - 1`` ended bar times of the strategy's
        interval, so its first possible decision is the first live step (as in a
        backtest over the same bars); the prices get each symbol's last two daily
        closes (today's price and the previous close, for the day's limits), so
        manual orders can be checked before the first step. Returns how many bar
        times joined the history.
        """
        n = max(0, int(getattr(self.session.trader.strategy, "warmup", 0) or 0) - 1)
        rows: dict[int, list[Bar]] = {}
        if n:
            for sym in self.session.history.symbols:
                for r in store.query_bars(sym, self.interval, None, upto, n + 1):
                    bar = Bar(*r)
                    if self._decision(bar.time) <= upto:
                        rows.setdefault(bar.time, []).append(bar)
        times = sorted(rows)[-n:] if n else []
        with self.lock:
            market = self.broker.market
            for sym in self.session.history.symbols:  # the previous close, then today's
                for r in store.query_bars(sym, "1d", None, upto, 2):
                    market.on_price(sym, int(r[2]), float(r[6]))
            for t in times:
                if self.session.history.cursor and t <= int(self.session.history.times[-1]):
                    continue
                self.session.seed(t, rows[t])
                self._stepped = max(self._stepped, t)
            self._decisions.clear()
        return len(times)

    # -- listeners ----------------------------------------------------------------

    def add_listener(self, fn: Callable[[Update], None]) -> None:
        """``fn(update)`` for every order change, fill and risk alert (on the caller's
        thread: keep it short; a failing listener is logged, never raised)."""
        self._listeners.append(fn)

    def _forward(self, update: Update) -> None:
        for fn in self._listeners:
            try:
                fn(update)
            except Exception:
                log.exception("trading listener failed on %s", type(update).__name__)

    # -- the live feed (runner thread) ------------------------------------------------

    def time_now(self) -> int:
        """The market's time: the runner's event time, else the newest event seen."""
        t = self._clock() if self._clock is not None else None
        now = max(self.now, t or 0)
        return now if now > 0 else int(time.time() * 1000)

    def on_output(self, bars: Iterable[Bar] = (), signals: Iterable[Signal] = ()) -> None:
        """Final bars of the strategy's interval wait for :meth:`advance`; signals join the
        strategy's feed (they reach it at the next step)."""
        interval = self.interval
        index = self.session.history.index
        with self.lock:
            for bar in bars:
                if not bar.final or bar.interval != interval or bar.symbol not in index:
                    continue
                if bar.time <= self._stepped:
                    self.late_bars += 1
                    continue
                self._bars.setdefault(bar.time, {})[bar.symbol] = bar
            for sig in signals:
                if sig.symbol in index:
                    self.session.add_signal(sig)

    def on_book(self, snapshot: BookSnapshot) -> None:
        """A live book: matched against open orders when fills are ``books``."""
        if self.fills != "books":
            return
        with self.lock:
            self.now = max(self.now, snapshot.ts)
            self.broker.on_book(snapshot)

    def _decision(self, t: int) -> int:
        d = self._decisions.get(t)
        if d is None:
            sched = schedule(self.rules.calendar, np.array([t], dtype=np.int64), self.interval)
            d = self._decisions[t] = int(sched.decision[0])
        return d

    def advance(self, t_ms: int) -> list[Order]:
        """Event time reached ``t_ms``: every bar of the interval ending by then is final;
        step through those bar times in order. Returns the orders placed."""
        placed: list[Order] = []
        with self.lock:
            self.now = max(self.now, t_ms)
            due = sorted(t for t in self._bars if self._decision(t) <= t_ms)
            for t in due:
                bars = self._bars.pop(t)
                self._decisions.pop(t, None)
                placed += self._step(t, list(bars.values()))
        return placed

    def resume_after_stored_steps(self) -> int | None:
        """After a restart: bar times up to the newest stored step are not stepped again
        (the runner's catch-up makes them again). Returns that time."""
        last = self.store.query_equity(None, None, 1)
        if last:
            with self.lock:
                self._stepped = max(self._stepped, last[-1][0])
            return last[-1][0]
        return None

    def _step(self, t: int, bars: list[Bar]) -> list[Order]:
        day = self.rules.day_of(t)
        if day != self._day:
            self._day = day
            perms = self.rules.permissions
            if perms is not None:
                perms.refresh()
        # the step is marked before it decides: a process killed in the middle of a step
        # never decides it twice (at most once; the broker's fills are exactly once)
        ledger = self.broker.ledger
        prev = self.session.equity[-1][1] if self.session.equity else float(ledger.cash)
        self.store.save_equity([(t, money(prev), ledger.cash)])
        orders = self.session.on_bars(t, bars)
        self._stepped = t
        self.steps += 1
        if self.session.equity:
            et, eq = self.session.equity[-1]
            self.store.save_equity([(et, money(eq), self.broker.ledger.cash)])
        return orders

    # -- the API ----------------------------------------------------------------------

    def submit(self, request: OrderRequest, user: str = "") -> Order:
        """Place an order through the risk engine (denied, rejected or accepted: the order
        says which, and why)."""
        with self.lock:
            order = self.risk.submit(request, self.time_now())
        audit.info(
            "audit user=%s action=order.submit id=%s symbol=%s side=%s qty=%s status=%s",
            user,
            order.id,
            order.symbol,
            order.side.value,
            order.quantity,
            order.status.value,
        )
        return order

    def place(self, request: OrderRequest, user: str = "") -> Order:
        """A person's order (the API): bad input is refused before anything is stored
        (:class:`OrderRejected`: malformed, unknown or untradable symbol, not whole lots,
        no price yet, a limit price off the tick or outside the day's limits, a sell
        beyond the sellable quantity); otherwise as :meth:`submit` (the risk engine may
        still deny it, stored with its reason)."""
        with self.lock:
            reason = self.input_error(request)
            if reason is not None:
                raise OrderRejected(reason)
            return self.submit(request, user)

    def reject(self, request: OrderRequest, reason: str, user: str = "") -> Order:
        """Store ``request`` as a ``rejected`` order with ``reason`` (an order that came over
        the bus: the API that sent it learns the answer from the store)."""
        with self.lock:
            if request.client_order_id:
                known = self.store.find_client_order(request.client_order_id)
                if known is not None:
                    return known
            now = self.time_now()
            order = request.to_order(random_ids()(), now).evolve(
                status=OrderStatus.REJECTED, reason=reason
            )
            self.store.save_order(order)
        self._forward(order)
        audit.info("audit user=%s action=order.reject id=%s reason=%s", user, order.id, reason)
        return order

    def input_error(self, request: OrderRequest) -> str | None:
        """Why ``request`` is bad input for this account now (None if it is not)."""
        err = request.shape_error()
        if err:
            return err
        sym = request.symbol
        if sym not in self.session.history.index:
            return f"unknown symbol {sym!r}: not in the traded universe"
        blocked = self.rules.blocked(sym)
        if blocked is not None:
            return f"not tradable: {blocked}"
        ledger = self.broker.ledger
        err = self.rules.quantity_error(request.side, request.quantity, ledger.quantity(sym))
        if err:
            return err
        market = self.broker.market
        if market.last_price(sym) is None:
            return f"no price for {sym} yet: the market has not traded it since the start"
        day = self.rules.day_of(self.time_now())
        limit = request.limit_price
        if limit is not None:
            if limit % self.rules.tick != 0:
                return f"limit price {limit} is not on the tick {self.rules.tick}"
            band = market.band(sym, day)
            if band is not None and not band.contains(limit):
                return f"limit price {limit} outside the day's limits [{band.low}, {band.high}]"
        if request.side is Side.SELL:
            sellable = ledger.sellable(sym, day)
            if request.quantity > sellable:
                return f"sell {request.quantity} {sym}: only {sellable} sellable now (T+1)"
        return None

    def cancel(self, order_id: str, user: str = "") -> Order:
        """Cancel an open order (NotFoundError: no such order; TradingError: not open)."""
        with self.lock:
            order = self.risk.cancel(order_id, self.time_now())
        audit.info("audit user=%s action=order.cancel id=%s", user, order_id)
        return order

    def set_limits(self, changes: Mapping[str, Any], user: str = "") -> RiskLimits:
        """Change risk limits (validated: a bad value changes nothing); stored."""
        with self.lock:
            limits = self.risk.set_limits(self.time_now(), **dict(changes))
            self.store.save_risk_setting("limits", limits.as_dict(), self.time_now(), user)
        audit.info("audit user=%s action=risk.limits changes=%s", user, dict(changes))
        return limits

    def set_state(self, state: TradingState, user: str = "", reason: str = "") -> RiskStatus:
        """Set the trading state by hand (stored: it outlives a restart)."""
        with self.lock:
            now = self.time_now()
            self.risk.set_state(state, now, reason or f"set by {user or 'an admin'}")
            self.store.save_risk_setting("state", {"state": state.value}, now, user)
        audit.info("audit user=%s action=risk.state state=%s", user, state.value)
        return self.risk_status()

    def account(self) -> Account:
        with self.lock:
            return self.broker.account()

    def positions(self) -> list[Position]:
        with self.lock:
            return self.broker.positions(self.time_now())

    def open_orders(self) -> list[Order]:
        with self.lock:
            return self.broker.orders(open_only=True)

    def risk_status(self) -> RiskStatus:
        with self.lock:
            risk = self.risk
            return RiskStatus(
                risk.state,
                risk._admin_state,
                risk.limits,
                dict(risk.denials),
            )

    def describe(self) -> dict[str, Any]:
        """A line of status for ``/health`` and the pipeline page."""
        with self.lock:
            acct = self.broker.account()
            return {
                "strategy": self.strategy_name,
                "interval": self.interval,
                "fills": self.fills,
                "state": self.risk.state.value,
                "equity": float(acct.equity),
                "open_orders": len(self.broker._open),
                "steps": self.steps,
                "late_bars": self.late_bars,
            }

    # -- the jobs ---------------------------------------------------------------------

    def halves(self) -> T1Halves:
        """The ``t1`` halves for the ``sell`` and ``buy`` jobs; from now on the jobs, not
        the steps, trigger them (the strategy goes into ``driven`` mode)."""
        strategy = self.session.trader.strategy
        if not (hasattr(strategy, "sells") and hasattr(strategy, "buys")):
            raise ConfigError(
                f"the jobs' sell/buy halves need the t1 strategy (QUANTDESK_STRATEGY is"
                f" {self.strategy_name!r})"
            )
        strategy.driven = True  # type: ignore[attr-defined]
        return T1Halves(self)

    def services(self) -> dict[str, Any]:
        """What a scheduler in this process hands the jobs (``JobEnvironment.services``):
        ``strategy`` (t1's halves: from then on the jobs, not the steps, trade them) and
        ``broker`` (``order_sync``'s settlement). Without t1, only ``broker``."""
        out: dict[str, Any] = {"broker": self}
        strategy = self.session.trader.strategy
        if hasattr(strategy, "sells") and hasattr(strategy, "buys"):
            out["strategy"] = self.halves()
        return out

    def settle_day(self, day: TradingDay) -> Mapping[str, Any]:
        """``order_sync``: day orders left open are cancelled; the day's orders, fills,
        fees and equity are returned (stored with the job's run)."""
        cal = self.rules.calendar
        segments = cal.day_segments(day.day)
        if not segments:
            return {"day": str(day.day), "trading_day": False}
        start, end = segments[0][0], segments[-1][1]
        with self.lock:
            expired = self.broker.expire_day_orders(max(day.decision_ms, end))
            orders = self.store.query_orders(start=start - 12 * 3_600_000, end=end)
            fills = self.store.query_fills(start, end)
            equity = self.store.query_equity(None, end + 1, 1)
            before = self.store.query_equity(None, start, 1)
        fees = sum((f.fees for f in fills), Decimal(0))
        out: dict[str, Any] = {
            "day": str(day.day),
            "orders": len(orders),
            "fills": len(fills),
            "expired": len(expired),
            "fees": float(fees),
            "bought": sum(f.quantity for f in fills if f.side.value == "buy"),
            "sold": sum(f.quantity for f in fills if f.side.value == "sell"),
        }
        if equity:
            out["equity"] = float(equity[-1][1])
            if before:
                out["pnl"] = float(equity[-1][1] - before[-1][1])
        return out


class T1Halves:
    """The ``t1`` strategy's halves for the ``sell`` and ``buy`` jobs (the jobs'
    :class:`~quantdesk.jobs.services.StrategyHalves` protocol), on the live desk."""

    def __init__(self, desk: TradingDesk) -> None:
        self.desk = desk

    def _run(self, which: str, decision_ms: int) -> dict[str, Any]:
        desk = self.desk
        with desk.lock:
            trader = desk.session.trader
            now = max(decision_ms, desk.now)
            ctx = trader.context(now)
            strategy: Any = trader.strategy
            requests = strategy.sells(ctx) if which == "sell" else strategy.buys(ctx)
            orders = desk.risk.submit_many(requests, now) if requests else []
        return {
            "orders": [o.id for o in orders],
            "placed": sum(1 for o in orders if o.status.value not in ("denied", "rejected")),
            "denied": sum(1 for o in orders if o.status.value == "denied"),
            "rejected": sum(1 for o in orders if o.status.value == "rejected"),
            "notes": list(ctx.notes),
        }

    def sell_half(self, day: TradingDay) -> Mapping[str, Any]:
        return self._run("sell", day.decision_ms)

    def buy_half(self, day: TradingDay, prediction: Mapping[str, Any]) -> Mapping[str, Any]:
        out = self._run("buy", day.decision_ms)
        out["prediction"] = dict(prediction) if isinstance(prediction, Mapping) else prediction
        return out

    def settle_day(self, day: TradingDay) -> Mapping[str, Any]:
        return self.desk.settle_day(day)
