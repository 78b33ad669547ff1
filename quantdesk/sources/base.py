"""The live-source interface: what ``quantdesk run`` reads, wherever it comes from.

A live source produces *domain messages* only: trades (:class:`~quantdesk.domain.Trade`
or a columnar :class:`~quantdesk.bus.TradeBatch`), order-book snapshots, clock
heartbeats and tweets. It knows nothing about bars, factors, signals or storage:
the one runner (:mod:`quantdesk.runtime.runner`) publishes what it produces onto
the bus, runs the stream operators and the sinks, checkpoints, and serves the API,
for every source alike.

A source produces in one of two ways:

* **clocked** (pull; the simulator, a replay, mocked and file tweets): the
  runner's clock (virtual: N x real time, closed hours skipped; or the wall
  clock) calls :meth:`LiveSource.step` with the event time reached; the source
  returns every message before it. Such a source is deterministic for its
  state, so a restart from a checkpoint produces exactly what the killed
  process produced after it.
* **streaming** (push; Finnhub): :meth:`LiveSource.stream` is an async
  iterator of message batches, arriving when the outside world sends them;
  the source sends its own heartbeats (its notion of now).

Implementing a source
=====================

=========================  =========  ====================================================
member                     required   meaning
=========================  =========  ====================================================
``name``                   yes        registry key: ``QUANTDESK_SOURCE=<name>[:<arg>]``
                                      (``--source``)
``origin``                 yes        the ``source`` stored with what it produces
``open(arg, ctx)``         yes        classmethod: build it from the argument after
                                      ``name:`` (``""`` if none) and a
                                      :class:`SourceContext`; a bad argument raises one
                                      line (:class:`~quantdesk.errors.ConfigError`)
``describe()``             yes        what it reads, for the start-up banner
``step(until)``            clocked    every message with event time ``< until``, in order
``start(at)``              clocked    begin at event time ``at`` (the clock's start)
``stream(stop)``           streaming  async iterator of message batches until ``stop``
``universe``               market     the stocks covered (metadata, symbols of the bars)
``calendar``               market     the sessions placing its bars (``None``: no
                                      sessions, ``--test``)
``resume_time(store)``     no         where this source's stored history ends (the
                                      virtual clock continues there); ``None``: now
``prepare(store)``         no         before the start: e.g. the simulator backfills an
                                      empty store
``sink(store)``            no         the :class:`~quantdesk.runtime.sink.StoreSink` for
                                      what the pipeline produces (Finnhub: REST-aware)
``snapshot()``             no         JSON-ready state, committed with every checkpoint
                                      (``None``: nothing to restore)
``restore(state)``         no         continue from a :meth:`snapshot` (raise
                                      :class:`~quantdesk.errors.CheckpointError` if it
                                      does not fit the store); the runner then resumes at
                                      the checkpoint's event time
``save(store)``            no         display state written at each checkpoint
                                      (simulator: ``stock_state``, market status)
``stop_time()``            no         event time to run to before a clean stop
``next_event_time()``      no         when the next message comes (quiet stretches are
                                      crossed in one step)
``finished``               no         ``True`` once a finite source (a replay) is done
``take_rejects()``         no         messages set aside (dead letters) since the last call
``stats()``                no         figures for ``/health`` and the end-of-run line
``close()``                no         release threads, files, connections; never blocks
=========================  =========  ====================================================

"market" members are required of market-data sources (``kind = "market"``);
tweet sources (``kind = "tweets"``, :mod:`quantdesk.sources.tweets`) produce
:class:`~quantdesk.sentiment.tweets.Tweet` messages instead and take their
universe from the context.

Sources register by name in :data:`SOURCES` (``simulator``, ``finnhub``,
``replay``); a user's package adds one with ``SOURCES.register("mine",
"pkg.module:MySource")`` or the ``quantdesk.sources`` entry points, and selects it
with ``QUANTDESK_SOURCE=mine``.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from quantdesk.errors import ConfigError
from quantdesk.plugins import Registry

if TYPE_CHECKING:
    import asyncio

    from quantdesk.bus import DeadLetter, Heartbeat, TradeBatch
    from quantdesk.calendars import ExchangeCalendar
    from quantdesk.config import Settings
    from quantdesk.domain import BookSnapshot, StockMeta, Trade
    from quantdesk.runtime.sink import StoreSink
    from quantdesk.sentiment.tweets import Tweet
    from quantdesk.storage.base import Store

    #: What a source produces.
    SourceMessage = Trade | TradeBatch | BookSnapshot | Heartbeat | Tweet

__all__ = ["SOURCES", "LiveSource", "SourceContext", "parse_spec"]

#: Live sources by name (``QUANTDESK_SOURCE``, ``run --source``).
SOURCES: Registry[type[LiveSource]] = Registry("source", "QUANTDESK_SOURCE")
SOURCES.register("simulator", "quantdesk.sources.simulator.source:SimulatorSource")
SOURCES.register("finnhub", "quantdesk.sources.finnhub.source:FinnhubSource")
SOURCES.register("replay", "quantdesk.sources.replay.source:ReplaySource")


def parse_spec(spec: str) -> tuple[str, str]:
    """``"replay:/data/ticks"`` -> ``("replay", "/data/ticks")``; ``"simulator"`` ->
    ``("simulator", "")``."""
    name, _, arg = spec.strip().partition(":")
    return name.strip().lower(), arg.strip()


def no_argument(name: str, arg: str, setting: str = "QUANTDESK_SOURCE") -> None:
    """The one-line error of a source that takes no argument but got one."""
    if arg:
        raise ConfigError(f"{setting}: {name} takes no argument (got {name}:{arg})")


@dataclass(frozen=True)
class SourceContext:
    """What a source may need to open: settings, market, symbols, clock, console.

    ``symbols`` are the symbols asked for (``--symbols`` / ``QUANTDESK_SYMBOLS``;
    empty: the source's default). ``universe`` and ``start_ms`` are given to
    tweet sources (the market source's stocks and the clock's start).
    """

    settings: Settings
    market: str
    symbols: tuple[str, ...] = ()
    test_mode: bool = False
    virtual_clock: bool = True
    universe: Sequence[StockMeta] = ()
    start_ms: int = 0
    echo: Callable[[str], None] = field(default=print)


class LiveSource(abc.ABC):
    """A live source of domain messages; see the module docstring for the members."""

    name: ClassVar[str] = ""
    origin: ClassVar[str] = ""
    kind: ClassVar[Literal["market", "tweets"]] = "market"
    #: True: driven by the runner's clock (``step``); False: pushes (``stream``).
    clocked: ClassVar[bool] = True

    universe: Sequence[StockMeta] = ()
    calendar: ExchangeCalendar | None = None

    @classmethod
    @abc.abstractmethod
    def open(cls, arg: str, ctx: SourceContext) -> LiveSource:
        """Build the source from the argument of its spec (``replay:PATH`` -> ``PATH``)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """What the source reads, in a few words."""

    # -- clocked sources --------------------------------------------------------

    def start(self, at: int) -> None:  # noqa: B027 - optional hook
        """Begin at event time ``at`` (called once, unless :meth:`restore` was)."""

    def step(self, until: int) -> Sequence[SourceMessage]:
        """Every message with event time before ``until``, in event-time order."""
        raise NotImplementedError(f"{type(self).__name__} is not a clocked source")

    def resume_time(self, store: Store) -> int | None:
        """Where this source's stored history ends; ``None``: start now."""
        return None

    def next_event_time(self) -> int | None:
        """When the next message comes (``None``: unknown)."""
        return None

    def stop_time(self) -> int | None:
        """Event time to run to before a clean stop (``None``: where the clock is)."""
        return None

    @property
    def finished(self) -> bool:
        """True once a finite source has produced everything."""
        return False

    # -- streaming sources ------------------------------------------------------

    def stream(self, stop: asyncio.Event) -> AsyncIterator[Sequence[SourceMessage]]:
        """Batches of messages as they arrive, until ``stop`` is set."""
        raise NotImplementedError(f"{type(self).__name__} is not a streaming source")

    # -- optional -----------------------------------------------------------------

    def prepare(self, store: Store) -> None:  # noqa: B027 - optional hook
        """Before the start (e.g. backfill an empty store)."""

    def sink(self, store: Store) -> StoreSink:
        """The sink of what the pipeline makes of this source's messages."""
        from quantdesk.runtime.sink import StoreSink

        return StoreSink(store)

    def snapshot(self) -> dict[str, Any] | None:
        """JSON-ready state to commit with a checkpoint (``None``: stateless)."""
        return None

    def restore(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Continue from a :meth:`snapshot`."""

    def save(self, store: Store) -> None:  # noqa: B027 - optional hook
        """Write display state (called at each checkpoint, after it)."""

    def take_rejects(self) -> list[DeadLetter]:
        """Messages set aside since the last call (bad lines, bad frames)."""
        return []

    def stats(self) -> dict[str, Any]:
        """Figures for ``/health`` and the end-of-run line."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release threads, files and connections (never blocks long)."""
