"""``QUANTDESK_SOURCE=simulator`` (default): the built-in market as a clocked live source.

It continues the stored history: before the start it backfills an empty store
(``QUANTDESK_BACKFILL_DAYS`` trading days), and the virtual clock starts where
the stored simulator state (``stock_state``) or the stored 1m bars end. Each
step returns the trades and book snapshots of
:class:`~quantdesk.sources.simulator.live.MarketSimulator` before the step's
end. Its snapshot is the simulator's (state after the last generated minute,
the current block's start, trade sequence numbers), so a restart from a
checkpoint makes exactly the events the killed process made after it; at each
checkpoint it also writes ``stock_state`` (for display and for ``backfill`` to
continue from).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from quantdesk.calendars import get_calendar
from quantdesk.config import Settings
from quantdesk.domain import BookSnapshot, StockMeta, StockState, Trade
from quantdesk.errors import CheckpointError, ConfigError
from quantdesk.sources.base import LiveSource, SourceContext, no_argument
from quantdesk.sources.simulator.live import MarketSimulator
from quantdesk.sources.simulator.params import SimulatorParams
from quantdesk.sources.simulator.timeline import MINUTE_MS
from quantdesk.storage.base import Store
from quantdesk.universe import universe_for

__all__ = ["SimulatorSource", "choose"]


def choose(universe: Sequence[StockMeta], symbols: Sequence[str], market: str) -> list[StockMeta]:
    """The stocks of ``universe`` named by ``symbols`` (all when empty); an unknown one is
    one line listing the known symbols."""
    if not symbols:
        return list(universe)
    by_symbol = {m.symbol.upper(): m for m in universe}
    unknown = [s for s in symbols if s.upper() not in by_symbol]
    if unknown:
        raise ConfigError(
            f"--symbols: {', '.join(unknown)} not in the {market} universe; "
            f"known: {', '.join(sorted(by_symbol))}"
        )
    return [by_symbol[s.upper()] for s in symbols]


class SimulatorSource(LiveSource):
    """The simulated market of one exchange; see the module docstring."""

    name = "simulator"
    origin = "simulator"

    def __init__(
        self,
        settings: Settings,
        market: str,
        *,
        symbols: Sequence[str] = (),
        test_mode: bool = False,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.market = market
        self.test_mode = test_mode
        self.echo = echo
        self.universe = choose(universe_for(settings, market), symbols, market)
        self.exchange = get_calendar(market)
        self.calendar = None if test_mode else self.exchange
        self.simulator: MarketSimulator | None = None
        self._store: Store | None = None

    @classmethod
    def open(cls, arg: str, ctx: SourceContext) -> SimulatorSource:
        no_argument(cls.name, arg)
        return cls(
            ctx.settings, ctx.market, symbols=ctx.symbols, test_mode=ctx.test_mode, echo=ctx.echo
        )

    def describe(self) -> str:
        return (
            f"simulated {self.market} market, {len(self.universe)} stocks, "
            f"seed {self.settings.seed}"
        )

    # -- start ----------------------------------------------------------------------

    def prepare(self, store: Store) -> None:
        """Backfill an empty store (``QUANTDESK_BACKFILL_DAYS``)."""
        self._store = store
        days = self.settings.backfill_days
        if store.count_bars() > 0 or days <= 0:
            return
        from quantdesk.backfill.run import run_backfill

        self.echo(
            f"Empty store: backfilling {days} trading days "
            f"of {len(self.universe)} {self.market} stocks ..."
        )
        report = run_backfill(store, self.settings, days=days, market=self.market)
        self.echo(
            f"Backfilled {report.bars_total:,} bars ({report.first_day} .. {report.last_day}) "
            f"in {report.seconds:.1f} s"
        )

    def _states(self, store: Store | None) -> dict[str, StockState]:
        if store is None:
            return {}
        mine = {m.symbol for m in self.universe}
        return {s: st for s, st in store.load_states().items() if s in mine}

    def resume_time(self, store: Store) -> int | None:
        states = self._states(store)
        if states:  # a state's time is the start of its last simulated minute
            return max(int(s.time) for s in states.values()) + MINUTE_MS
        last = store.last_bar_time("1m")
        return None if last is None else last + MINUTE_MS

    def _simulator(self, start: int, states: dict[str, StockState] | None) -> MarketSimulator:
        return MarketSimulator(
            self.universe,
            self.exchange,
            seed=self.settings.seed,
            params=SimulatorParams.from_settings(self.settings),
            states=states or None,
            start_ms=start,
            test_mode=self.test_mode,
        )

    def start(self, at: int) -> None:
        self.simulator = self._simulator(at, self._states(self._store))

    # -- producing ----------------------------------------------------------------

    def _sim(self) -> MarketSimulator:
        if self.simulator is None:
            raise RuntimeError("SimulatorSource: start() or restore() first")
        return self.simulator

    def step(self, until: int) -> list[Trade | BookSnapshot]:
        return self._sim().advance(until)

    def next_event_time(self) -> int | None:
        return self._sim().next_event_time()

    def stop_time(self) -> int | None:
        """The end of the last generated minute: a clean stop completes it."""
        return self._sim().generated_until()

    # -- checkpoints ----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {"simulator": self._sim().snapshot()}

    def restore(self, state: dict[str, Any]) -> None:
        snap = state["simulator"]
        stored = self._states(self._store)
        newest = max((int(s.time) for s in stored.values()), default=None)
        if newest is not None and newest > max(int(t) for t in snap["times"]):
            raise CheckpointError(
                "the store holds newer simulator states than the checkpoint (a backfill "
                "since?); continuing from the stored states"
            )
        sim = self._simulator(int(snap["now"]), None)
        sim.restore(snap)
        self.simulator = sim

    def save(self, store: Store) -> None:
        """``stock_state`` of the last generated minute."""
        if self.simulator is not None:
            store.save_states(list(self.simulator.states().values()))

    def stats(self) -> dict[str, Any]:
        return {"sim_now": None if self.simulator is None else self.simulator.now}
