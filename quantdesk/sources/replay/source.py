"""``QUANTDESK_SOURCE=replay:PATH``: a tick capture replayed as a live market.

The capture (``QUANTDESK_CAPTURE_TICKS=true`` writes it under ``data/ticks``;
see :mod:`quantdesk.capture`) is read back in event-time order
(:func:`~quantdesk.sources.replay.reader.read_events`) and stepped by the
runner's clock like the simulator: the virtual clock starts at the first
captured event and runs ``--speed`` times real time, so the same operators
make the same bars, factors and signals as the live run did. The run ends on
its own after the last event. Stored bars carry the source ``replay``. Its
snapshot is the number of events produced, so a restart from a checkpoint
continues at the next one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from quantdesk.calendars import get_calendar
from quantdesk.config import Settings
from quantdesk.domain import BookSnapshot, StockMeta, Trade
from quantdesk.errors import CheckpointError, ConfigError, NotFoundError
from quantdesk.sources.base import LiveSource, SourceContext
from quantdesk.sources.replay.reader import ReplayEvent, capture_files, read_events
from quantdesk.universe import universe_for

__all__ = ["ReplaySource", "captured_symbols"]


def captured_symbols(root: Path) -> list[str]:
    """The symbols a capture holds (its Parquet ``symbol`` columns), sorted."""
    found: set[str] = set()
    for kind in ("trades", "books"):
        for f in capture_files(root, kind):
            table = pq.read_table(f, columns=["symbol"])
            if table.num_rows:
                found.update(pc.unique(table.column("symbol")).to_pylist())
    return sorted(found)


class ReplaySource(LiveSource):
    """Captured trades and book snapshots, stepped in event time; see the module."""

    name = "replay"
    origin = "replay"

    def __init__(
        self,
        path: str | Path,
        settings: Settings,
        market: str,
        *,
        symbols: Sequence[str] = (),
        test_mode: bool = False,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise NotFoundError(f"replay:{path}: no such capture folder")
        self.market = market
        wanted = {s.upper() for s in symbols}
        present = captured_symbols(self.path)
        chosen = [s for s in present if not wanted or s.upper() in wanted]
        if not chosen:
            raise NotFoundError(
                f"replay:{path}: no captured trades or books"
                + (f" of {', '.join(sorted(wanted))}" if wanted else "")
            )
        self._symbols = set(chosen)
        known = {m.symbol: m for m in universe_for(settings, market)}
        cal = get_calendar(market)
        self.universe = [
            known.get(s) or StockMeta(s, s, market, "", 0.0, 0.0, 0.0, cal.name) for s in chosen
        ]
        self.calendar = None if test_mode else cal
        self.produced = 0
        self._open()

    def _open(self, skip: int = 0) -> None:
        self._events: Iterator[ReplayEvent] = read_events(self.path, symbols=self._symbols)
        self._head: ReplayEvent | None = None
        for _ in range(skip):
            if next(self._events, None) is None:
                raise CheckpointError(f"replay:{self.path}: the capture is shorter than before")
        self.produced = skip
        self._head = next(self._events, None)

    @classmethod
    def open(cls, arg: str, ctx: SourceContext) -> ReplaySource:
        if not arg:
            raise ConfigError(
                "QUANTDESK_SOURCE: replay:PATH needs the capture folder (e.g. replay:data/ticks)"
            )
        return cls(arg, ctx.settings, ctx.market, symbols=ctx.symbols, test_mode=ctx.test_mode)

    def describe(self) -> str:
        return f"replay of {self.path}, {len(self.universe)} symbols"

    def resume_time(self, store: Any) -> int | None:
        """The first captured event: the virtual clock starts there."""
        return None if self._head is None else self._head.ts

    def step(self, until: int) -> list[Trade | BookSnapshot]:
        out: list[Trade | BookSnapshot] = []
        head = self._head
        events = self._events
        while head is not None and head.ts < until:
            out.append(head)
            head = next(events, None)
        self._head = head
        self.produced += len(out)
        return out

    def next_event_time(self) -> int | None:
        return None if self._head is None else self._head.ts

    @property
    def finished(self) -> bool:
        return self._head is None

    def snapshot(self) -> dict[str, Any]:
        return {"path": str(self.path), "produced": self.produced}

    def restore(self, state: dict[str, Any]) -> None:
        if Path(state["path"]) != self.path:
            raise CheckpointError(f"the checkpoint replayed {state['path']}, not {self.path}")
        self._open(int(state["produced"]))

    def stats(self) -> dict[str, Any]:
        return {"events": self.produced}
