"""The live simulator: trades and book snapshots in event-time order, block by block."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from quantdesk.calendars.sessions import ExchangeCalendar
from quantdesk.domain.messages import StockMeta, StockState
from quantdesk.errors import CheckpointError
from quantdesk.sources.simulator.book import Event, minute_events
from quantdesk.sources.simulator.history import check_calendar, year_fraction
from quantdesk.sources.simulator.model import (
    Block,
    Start,
    Stocks,
    block_rng,
    simulate_block,
    start_from_states,
    to_states,
)
from quantdesk.sources.simulator.params import SimulatorParams
from quantdesk.sources.simulator.timeline import (
    MINUTE_MS,
    ContinuousTimeline,
    SessionTimeline,
    Timeline,
    ceil_minute,
    minutes_per_day,
)


class MarketSimulator:
    """Deterministic live market: ``advance(until_ms)`` returns every event with ``ts < until_ms``.

    The simulation starts at the first minute boundary at or after ``start_ms``
    (``clock`` is an alias)
    (and after the newest stored state's minute), in session only unless
    ``test_mode``, where it runs every minute without sessions or overnight
    gaps. The minute path comes from the same model blocks as
    :func:`~quantdesk.sources.simulator.generate_history`: for the same seed
    and states, a full day's trades add up to the same per-minute volumes and
    trade counts as that day's history bars.
    """

    def __init__(
        self,
        universe: Sequence[StockMeta],
        calendar: ExchangeCalendar,
        seed: int,
        start_ms: int | None = None,
        states: Mapping[str, StockState] | None = None,
        params: SimulatorParams | None = None,
        test_mode: bool = False,
        *,
        clock: int | None = None,
    ) -> None:
        if start_ms is None:
            start_ms = clock
        if start_ms is None:
            raise TypeError("MarketSimulator needs a start time: start_ms (epoch ms)")
        self.params = params or SimulatorParams()
        self.seed = seed
        self.test_mode = test_mode
        check_calendar(universe, calendar)
        self._stocks = Stocks.from_metas(universe, self.params)
        per_day = minutes_per_day(calendar)
        self._timeline: Timeline = (
            ContinuousTimeline(per_day) if test_mode else SessionTimeline(calendar)
        )
        self._dt = year_fraction(calendar, self.params)
        self._state, self._seq = start_from_states(self._stocks, states, seed, self.params)
        first = ceil_minute(start_ms)
        given = [states[s].time for s in self._stocks.symbols if states and s in states]
        if given:
            first = max(first, max(given) + MINUTE_MS)
        self._times = np.array(
            [
                states[s].time if states and s in states else first - MINUTE_MS
                for s in self._stocks.symbols
            ],
            dtype=np.int64,
        )
        self._next = first
        self._block: Block | None = None
        self._m = -1
        self._pending: deque[Event] = deque()
        self._now = start_ms
        #: trade sequence numbers before the last generated minute (to make it again)
        self._seq_before = self._seq.copy()

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._stocks.symbols

    @property
    def now(self) -> int:
        """Every event before this instant (epoch ms) has been returned."""
        return self._now

    def advance(self, until_ms: int) -> list[Event]:
        """Every event with ``now <= ts < until_ms``, in event-time order."""
        out: list[Event] = []
        while True:
            pending = self._pending
            while pending and pending[0].ts < until_ms:
                out.append(pending.popleft())
            if pending or self._peek() >= until_ms:
                break
            self._generate_minute()
        self._now = max(self._now, until_ms)
        return out

    def states(self) -> dict[str, StockState]:
        """Per-stock state after the last simulated minute, for persistence and restart."""
        return to_states(
            self._stocks, self._state, self._times, self._seq, self._timeline, self.params
        )

    def generated_until(self) -> int:
        """The end of the last generated minute (every event before it is known)."""
        return max(int(self._times.max()) + MINUTE_MS, self._now)

    def snapshot(self) -> dict[str, Any]:
        """Where the simulation stands, JSON-ready: with :meth:`restore` the same events
        follow as if it had never stopped (the current block is made again from its first
        minute and start state, both deterministic)."""
        block = self._block
        return {
            "seed": self.seed,
            "test_mode": self.test_mode,
            "symbols": list(self.symbols),
            "now": self._now,
            "next": self._next,
            "times": self._times.tolist(),
            "seq": self._seq.tolist(),
            "seq_before": self._seq_before.tolist(),
            "state": _start_json(self._state),
            "block": None
            if block is None
            else {
                "first": int(block.minutes.times[0]),
                "start": _start_json(block.start),
                "m": self._m,
            },
            "pending": bool(self._pending),
        }

    def restore(self, snap: Mapping[str, Any]) -> None:
        """Continue from a :meth:`snapshot` of a simulator with the same universe and seed."""
        if list(snap["symbols"]) != list(self.symbols):
            raise CheckpointError("the simulator checkpoint is of another universe")
        if int(snap["seed"]) != self.seed or bool(snap["test_mode"]) != self.test_mode:
            raise CheckpointError("the simulator checkpoint is of another seed or clock mode")
        self._now = int(snap["now"])
        self._next = int(snap["next"])
        self._times = np.array(snap["times"], dtype=np.int64)
        self._seq = np.array(snap["seq"], dtype=np.int64)
        self._seq_before = np.array(snap["seq_before"], dtype=np.int64)
        self._state = _start_from_json(snap["state"])
        self._pending = deque()
        self._block = None
        self._m = -1
        blk = snap.get("block")
        if blk is None:
            return
        first = int(blk["first"])
        minutes = self._timeline.block_from(first)
        if int(minutes.times[0]) != first:
            raise CheckpointError("the simulator checkpoint does not fit the calendar")
        self._block = simulate_block(
            self._stocks,
            _start_from_json(blk["start"]),
            minutes,
            block_rng(self.seed, first, 0),
            self.params,
            self._dt,
        )
        self._m = int(blk["m"])
        if snap.get("pending") and self._m >= 0:
            t0 = int(self._block.minutes.times[self._m])
            seq = self._seq_before.copy()
            events = minute_events(
                self._stocks, self._block, self._m, block_rng(self.seed, t0, 1), self.params, seq
            )
            self._pending.extend(ev for ev in events if ev.ts >= self._now)

    def next_event_time(self) -> int:
        """When the next event happens (epoch ms); useful to sleep across closed periods."""
        if self._pending:
            return self._pending[0].ts
        return self._peek()

    # -- internals -------------------------------------------------------------

    def _peek(self) -> int:
        """Start of the next minute to simulate, making its block when needed."""
        block = self._block
        if block is None or self._m + 1 >= len(block.minutes):
            minutes = self._timeline.block_from(self._next)
            rng = block_rng(self.seed, int(minutes.times[0]), 0)
            self._block = simulate_block(
                self._stocks, self._state, minutes, rng, self.params, self._dt
            )
            self._m = -1
            block = self._block
        return int(block.minutes.times[self._m + 1])

    def _generate_minute(self) -> None:
        block = self._block
        assert block is not None
        m = self._m + 1
        t0 = int(block.minutes.times[m])
        rng = block_rng(self.seed, t0, 1)
        self._seq_before = self._seq.copy()
        self._pending.extend(minute_events(self._stocks, block, m, rng, self.params, self._seq))
        self._m = m
        self._state = block.state_after(m)
        self._times[:] = t0
        self._next = t0 + MINUTE_MS


def _start_json(start: Start) -> dict[str, list[Any]]:
    return {
        "log_price": start.log_price.tolist(),
        "regime": start.regime.tolist(),
        "countdown": start.countdown.tolist(),
        "has_prev": start.has_prev.tolist(),
        "last_volume": start.last_volume.tolist(),
        "morning_open": start.morning_open.tolist(),
        "morning_return": start.morning_return.tolist(),
    }


def _start_from_json(data: Mapping[str, Any]) -> Start:
    return Start(
        log_price=np.array(data["log_price"], dtype=np.float64),
        regime=np.array(data["regime"], dtype=np.int8),
        countdown=np.array(data["countdown"], dtype=np.int64),
        has_prev=np.array(data["has_prev"], dtype=bool),
        last_volume=np.array(data["last_volume"], dtype=np.float64),
        # checkpoints from before the planted-signal control carry no morning state
        morning_open=np.array(
            data.get("morning_open", np.zeros(len(data["log_price"]))), dtype=np.float64
        ),
        morning_return=np.array(
            data.get("morning_return", np.zeros(len(data["log_price"]))), dtype=np.float64
        ),
    )
