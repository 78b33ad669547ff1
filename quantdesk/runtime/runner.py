"""The one runner behind ``quantdesk run``: any live source -> bus -> operators -> sinks.

Every source (``--source simulator|finnhub|replay:PATH``, or one a user's package
registers; see :mod:`quantdesk.sources.base`) goes through this class, so each
gets bars, factors, indicators, signals, tweets (``--tweets``), storage, the
tick capture, the CSV export and the API's live channels alike.

What it does:

1. migrates the store, registers the source's universe, lets the source prepare
   (the simulator backfills an empty store) and restores the last checkpoint;
2. publishes what the source produces onto the bus — a *clocked* source is
   stepped by the clock (virtual: ``--speed`` x real time from where the stored
   history ends, closed hours skipped; or the wall clock), one slice of at most
   :data:`SLICE_MS` of event time at a time, with a clock heartbeat per symbol
   after each slice; a *streaming* source (Finnhub) pushes batches with its own
   heartbeats;
3. consumes them as one member of the stream group
   (:class:`~quantdesk.runtime.consumer.StreamConsumer`: bars, factors,
   indicators, signals, dead letters, the real-time price table), and runs the
   tweet source on the same event clock through the sentiment operator;
4. checkpoints (see below), and on SIGINT/SIGTERM completes the source's last
   minute, writes every open bar as it stands and checkpoints once more.

With ``QUANTDESK_BUS=memory`` (default) everything stays in this process. With
``QUANTDESK_BUS=kafka`` the same process publishes to Kafka and is one member
of the consumer group; ``quantdesk worker`` processes join the group and take
partitions (symbols) over (each checkpoints its partitions itself).

Exactly once, SIGKILL included
------------------------------
Every ``QUANTDESK_CHECKPOINT_SECONDS`` (and at the start and the stop) the
runner commits, after the outputs of everything before it are stored, one
checkpoint (:mod:`quantdesk.runtime.checkpoint`): the event time it covers,
the source's state (simulator: model state, current block, trade sequence
numbers; replay: events produced; mocked tweets: the generator's random state;
Finnhub: the wall time, so a restart fills everything since from REST), and
the operators' state (open bars, indicators, signal series, sentiment). A
restart restores all of it and continues at that event time: a deterministic
source makes again exactly the messages the killed process made after the
checkpoint and the same operators turn them into the same bars. Until the run
is past the newest stored minute (the *catch-up*), it writes no open bar (the
stored ones are fuller) and no final bar whose stored version has the same
trades (its VWAP could differ in the last bits: float sums depend on how the
clock sliced the trades), so no stored final bar changes, no trade is counted
twice, and every roll-up equals its 1m bars. Factors, signals and tweets are
upserted on their keys; dead letters are appended, so one that arose between
the last checkpoint and a SIGKILL is stored again. After the checkpoint the
source's display state (``stock_state``, market status) is written. A store without a run checkpoint
(from an earlier release) continues from ``stock_state`` and the stored open
bars as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from quantdesk.api.context import RuntimeCounters
from quantdesk.bars.buckets import bucket_start, place
from quantdesk.bus import Bus, Heartbeat, TradeBatch, bus_from_settings
from quantdesk.calendars import DAY_MS, ExchangeCalendar, get_calendar
from quantdesk.config import Settings
from quantdesk.domain import INTERVALS, Bar, BookSnapshot, Trade
from quantdesk.domain.time import iso, local_minute, now_ms
from quantdesk.errors import CheckpointError, ConfigError
from quantdesk.jobs.clock import SharedClock
from quantdesk.plugins import Registry
from quantdesk.runtime import checkpoint, trading
from quantdesk.runtime.clock import VirtualClock, WallClock
from quantdesk.runtime.consumer import StreamConsumer
from quantdesk.runtime.control import ControlListener
from quantdesk.runtime.pipeline import Output, StreamProcessor
from quantdesk.sources.base import SOURCES, LiveSource, SourceContext, parse_spec
from quantdesk.storage.base import MarketStatus, Store
from quantdesk.stream.signals import merge_rules
from quantdesk.stream.warmup import warm_up

if TYPE_CHECKING:
    from quantdesk.capture import TickCapture
    from quantdesk.runtime.jobs import JobsLink
    from quantdesk.runtime.sink import StoreSink
    from quantdesk.runtime.trading import TradingLink
    from quantdesk.sentiment.tweets import Tweet
    from quantdesk.sources.tweets.base import TweetFeed
    from quantdesk.trading.desk import TradingDesk

log = logging.getLogger("quantdesk.runtime")

__all__ = ["SLICE_MS", "TICK_SECONDS", "PublishingConsumer", "Runner", "market_phase"]

#: Wall seconds between two steps of a clocked source.
TICK_SECONDS = 0.25
#: Event time published per slice, so a fast clock never floods the bus.
SLICE_MS = 60_000
#: Event time per step at ``--speed 0`` (as fast as possible).
FAST_STEP_MS = 10 * 60_000


def market_phase(calendar: ExchangeCalendar, t_ms: int) -> tuple[str, str]:
    """``(status, phase)`` for ``market_status``.

    status is open/closed; phase is morning/afternoon (A-shares), regular (US) or closed.
    """
    seg = calendar.segment_at(t_ms)
    if seg < 0:
        return "closed", "closed"
    day = calendar.day_segments(calendar.date_of(t_ms))
    if len(day) == 1:
        return "open", "regular"
    return "open", "morning" if int(calendar.opens[seg]) == day[0][0] else "afternoon"


class PublishingConsumer(StreamConsumer):
    """A consumer that also hands every Output to in-process listeners (CSV export).

    Listeners run on the stream thread, before the store write. The API's
    WebSocket hub is not one of them: it reads the output topics of the bus.
    """

    listeners: list[Callable[[Output], None]]
    #: False while a restart makes again what the store already holds: then only final
    #: bars are written (open bars as they stood then would replace fuller stored ones),
    #: and only those whose trades differ from the stored bar's
    partials: bool = True
    #: the stored bars of the catch-up: key -> (open, high, low, close, volume, trades)
    stored: dict[tuple[str, str, int], tuple[float, float, float, float, float, int]]

    def emit(self, out: Output) -> None:
        if out and not self.partials:
            stored = self.stored
            out.bars = [
                b
                for b in out.bars
                if b.final
                and stored.get((b.symbol, b.interval, b.time))
                != (b.open, b.high, b.low, b.close, b.volume, b.trades)
            ]
            out.prices.clear()
        if out:
            for listener in self.listeners:
                listener(out)
        super().emit(out)


def _source_class(registry: Registry[type[LiveSource]], name: str) -> type[LiveSource]:
    cls = registry.get(name)
    if not (isinstance(cls, type) and issubclass(cls, LiveSource)):
        raise ConfigError(f"QUANTDESK_SOURCE: {name!r} is registered as {cls!r}, not a source")
    return cls


class Runner:
    """One live source -> bus -> stream processor -> sinks, beside the API server."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        source: LiveSource | str | None = None,
        market: str | None = None,
        symbols: Sequence[str] | None = None,
        clock: str = "virtual",
        speed: float | None = None,
        test_mode: bool = False,
        echo: Callable[[str], None] = print,
    ) -> None:
        if clock not in ("virtual", "wall"):
            raise ConfigError(f"--clock: use virtual or wall (got {clock!r})")
        self.settings = settings
        self.store = store
        self.spec = source if isinstance(source, str) else settings.source
        self._given = source if isinstance(source, LiveSource) else None
        self.market = market or settings.market
        if symbols is None:
            symbols = [s for s in settings.symbols.split(",") if s.strip()]
        self.symbols = tuple(s.strip().upper() for s in symbols if s.strip())
        self.clock_kind = clock
        self.speed = speed if speed is not None else settings.sim_speed
        if self.speed < 0:
            raise ConfigError(f"--speed: must be >= 0 (got {self.speed:g})")
        #: ``--speed 0``: no pacing, each step takes the next FAST_STEP_MS of event time
        self.fast = self.speed == 0
        if self.fast and clock == "wall":
            raise ConfigError("--speed 0 (as fast as possible) needs --clock virtual")
        self.test_mode = test_mode
        self.echo = echo
        self.trades_seen = 0
        self.books_seen = 0
        #: event time: every message before it has been published and processed
        self.sim_time: int | None = None
        self.started_at = time.time()
        self.restored = False
        self.catch_up_until: int | None = None
        self._stop = asyncio.Event()
        #: event time at which :meth:`run` ends on its own (a clocked source; None: never)
        self.stop_at: int | None = None
        self._last_checkpoint = time.monotonic()
        #: called with each processed Output (bars, factors, signals, dead letters, tweets)
        self.output_listeners: list[Callable[[Output], None]] = []
        self.tweets: TweetFeed | None = None
        self.capture: TickCapture | None = None
        #: the exchange clock; wrapped in a SharedClock when the job scheduler reads it too
        self.clock: VirtualClock | WallClock | SharedClock = WallClock()
        #: the paper account (quantdesk.runtime.trading); None when run does not trade
        self.trading: TradingDesk | None = None
        self._trading: TradingLink | None = None
        #: the job scheduler (quantdesk.runtime.jobs); None when QUANTDESK_JOBS is off
        self.jobs: JobsLink | None = None
        #: the stream thread: every step, feed and checkpoint of the loop runs on this
        #: one thread (started on first use). Not the loop's default executor, whose
        #: threads took turns: each has a malloc arena of its own, and the six arenas
        #: each grew to the stream's high-water mark (issue 16's soak at --speed 60:
        #: +2.4 MiB RSS a minute; on one thread, +1.1).
        self._stream_thread = ThreadPoolExecutor(1, thread_name_prefix="quantdesk-stream")

    # -- set-up ------------------------------------------------------------------

    def _open_source(self) -> LiveSource:
        if self._given is not None:
            return self._given
        name, arg = parse_spec(self.spec)
        ctx = SourceContext(
            self.settings,
            self.market,
            symbols=self.symbols,
            test_mode=self.test_mode,
            virtual_clock=self.clock_kind == "virtual",
            echo=self.echo,
        )
        return _source_class(SOURCES, name).open(arg, ctx)

    def prepare(self) -> None:
        """Open the source, restore the checkpoint, build the pipeline."""
        self.store.migrate()
        src = self.source = self._open_source()
        if src.kind != "market":
            raise ConfigError(f"QUANTDESK_SOURCE: {src.name} is a {src.kind} source")
        self.market = str(getattr(src, "market", self.market))
        self.source_name = parse_spec(self.spec)[0] if self._given is None else src.name
        self.universe = list(src.universe)
        if not self.universe:
            raise ConfigError(f"QUANTDESK_SOURCE: {src.describe()} covers no symbol")
        #: the exchange: the virtual clock's sessions and the market status
        self.exchange = get_calendar(self.market)
        #: the sessions bars are placed in (None: --test)
        self.calendar = src.calendar
        self.store.upsert_metadata(self.universe)
        src.prepare(self.store)
        self.sink: StoreSink = src.sink(self.store)
        self.echo(f"Source: {src.describe()}")

        saved = self._load_checkpoint(src)
        if src.clocked:
            if saved is not None:
                resume: int | None = int(saved["position"])
            else:
                resume = src.resume_time(self.store)
            start = self._make_clock(resume)
            if saved is None:
                src.start(start)
            position = int(saved["position"]) if saved is not None else start
        else:
            self.clock = WallClock()
            position = int(saved["position"]) if saved is not None else self.clock.start
        self.sim_time = position
        self.restored = saved is not None

        self._open_tweets(position, src.clocked and self.clock_kind == "virtual")
        self.processor = StreamProcessor(
            self.calendar,
            {m.symbol for m in self.universe},
            rules=merge_rules(self.settings.signal_rules, self.store.load_signal_rules()),
            source=src.origin,
            sentiment=self._sentiment(),
        )
        if saved is not None:
            self.processor.restore(saved.get("processor") or {})
            tweets = saved.get("tweets")
            if self.tweets is not None and tweets and tweets.get("spec") == self.settings.tweets:
                self.tweets.restore(tweets["state"])
            self.echo(f"Checkpoint: continuing at {self._fmt(position)}")
        self.echo(f"Tweets: {self.tweets.describe() if self.tweets else 'off'}")

        if self.settings.capture_ticks:
            from quantdesk.capture import TickCapture

            self.capture = TickCapture(
                self.settings.data_dir / "ticks", batch_rows=self.settings.capture_batch_rows
            )
        if self.settings.export_csv:
            from quantdesk.export import CsvBarExporter

            exporter = CsvBarExporter(self.settings.data_dir / "raw")

            def export(out: Output) -> None:
                exporter.on_bars(out.bars)

            self.output_listeners.append(export)
        self.bus: Bus = bus_from_settings(
            self.settings,
            **(
                {"session_timeout_ms": self.settings.kafka_session_timeout_ms}
                if self.settings.bus == "kafka"
                else {}
            ),
        )
        self.bus.start()
        self.in_process = self.settings.bus == "memory"
        self.consumer = PublishingConsumer(
            self.bus,
            self.processor,
            self.sink,
            checkpoint_seconds=None if self.in_process else self.settings.checkpoint_seconds,
            control=ControlListener(
                self.bus,
                self.processor.signals,
                lambda: merge_rules(self.settings.signal_rules, self.store.load_signal_rules()),
            ),
        )
        self.consumer.listeners = self.output_listeners
        self.consumer.stored = {}
        if self.in_process and saved is None and src.clocked:
            self._seed_open_bars(position)  # a store from before run checkpoints
        if saved is None:  # indicators and signal rules start warm, from the stored final bars
            warm_up(
                self.processor.indicators,
                self.processor.signals,
                self.store,
                {m.symbol for m in self.universe},
                until=position,
                calendar=None if self.test_mode else self.calendar,
            )
        # a restart from a checkpoint first makes again what the killed process stored
        # after it: until this event time only final bars are written
        self.catch_up_until = self._catch_up_point(position) if saved is not None else None
        if self.catch_up_until is not None:
            self.consumer.stored = self._stored_bars(position, self.catch_up_until)
        self._trading = trading.attach(self, position)
        self.trading = self._trading.desk if self._trading is not None else None
        self.checkpoint()  # a kill before the first step restarts from here
        from quantdesk.runtime import jobs

        self.jobs = jobs.attach(self)

    def _make_clock(self, resume: int | None) -> int:
        if self.clock_kind == "wall":
            self.clock = WallClock()
            self.echo("Clock: wall (real exchange time; nothing trades while the market is closed)")
            return self.clock.start if resume is None else min(resume, self.clock.start)
        start = resume if resume is not None else now_ms()
        speed = self.speed or 1.0
        self.clock = VirtualClock(self.exchange, start, speed, test_mode=self.test_mode)
        mode = "sessions ignored, --test" if self.test_mode else "closed periods skipped"
        pace = "as fast as possible" if self.fast else f"{self.speed:g}x real time"
        self.echo(
            f"Clock: virtual, {pace}, continuing the stored history at "
            f"{self._fmt(self.clock.start)} ({mode})"
        )
        return self.clock.start

    def _fmt(self, t_ms: int) -> str:
        return local_minute(t_ms, self.exchange.tz)

    def _load_checkpoint(self, src: LiveSource) -> dict[str, Any] | None:
        try:
            saved = checkpoint.load(self.store, self.source_name)
            if saved is None:
                return None
            if (
                saved.get("spec") != self.spec
                or saved.get("market") != self.market
                or bool(saved.get("test")) != self.test_mode
                or saved.get("symbols") != sorted(m.symbol for m in self.universe)
            ):
                raise CheckpointError(
                    "the last run had another source, market, clock mode or symbols"
                )
            state = saved.get("source")
            if state is not None:
                src.restore(state)
        except CheckpointError as exc:
            self.echo(f"Checkpoint ignored: {exc}")
            return None
        return saved

    def _open_tweets(self, start: int, virtual: bool) -> None:
        from quantdesk.sources.tweets import open_feed

        self.tweets = open_feed(
            self.settings,
            self.universe,
            start_ms=start,
            virtual_clock=virtual,
            echo=self.echo,
            market=self.market,
        )

    def _sentiment(self) -> Any:
        if self.tweets is None:
            return None
        from quantdesk.sources.tweets import ensure_model
        from quantdesk.stream.sentiment import SentimentAggregator

        model = ensure_model(self.settings.data_dir / "models" / "sentiment", self.echo)
        return SentimentAggregator(model, source=self.tweets.origin)

    def _seed_open_bars(self, resume: int) -> None:
        """Continue the stored bars that contain the resume time (no checkpoint yet)."""
        calendar = self.calendar
        t_eff, seg, valid = place(np.array([resume], dtype=np.int64), calendar)
        if not bool(valid[0]):
            return
        for interval in INTERVALS:
            start = int(bucket_start(t_eff, seg, interval, calendar)[0])
            for meta in self.universe:
                rows = self.store.query_bars(meta.symbol, interval, start, start + 1, 1)
                if rows:
                    self.processor.bars.seed(Bar(*rows[0]), resume)

    def _catch_up_point(self, position: int) -> int | None:
        """The end of the newest stored minute of this source, if after ``position``."""
        newest: int | None = None
        for meta in self.universe:
            rows = self.store.query_bars(meta.symbol, "1m", None, None, 1)
            if rows and rows[-1][10] == self.source.origin:
                newest = max(newest or 0, int(rows[-1][2]))
        if newest is None or newest + 60_000 <= position:
            return None
        return newest + 60_000

    def _stored_bars(
        self, position: int, until: int
    ) -> dict[tuple[str, str, int], tuple[float, float, float, float, float, int]]:
        """What the catch-up may make again: the stored bars that can hold trades of
        ``[position, until)``."""
        out = {}
        for meta in self.universe:
            for interval in INTERVALS:
                for r in self.store.query_bars(meta.symbol, interval, position - DAY_MS, until):
                    out[(r[0], r[1], int(r[2]))] = (r[3], r[4], r[5], r[6], r[7], int(r[9]))
        return out

    def _catching_up(self, until: int) -> None:
        """Write open bars again once the run is past what the store held at the start."""
        if self.catch_up_until is not None and until > self.catch_up_until:
            self.catch_up_until = None
            self.consumer.stored = {}
        self.consumer.partials = self.catch_up_until is None

    # -- checkpoints -------------------------------------------------------------

    def checkpoint(self) -> None:
        """Commit the source's and the operators' state at :attr:`sim_time` (everything
        before it is stored), then the display state. Runs on the stream thread."""
        position = self.sim_time
        if position is None:
            return
        state = {
            "spec": self.spec,
            "market": self.market,
            "test": self.test_mode,
            "symbols": sorted(m.symbol for m in self.universe),
            "position": position,
            "source": self.source.snapshot(),
            "tweets": None
            if self.tweets is None
            else {"spec": self.settings.tweets, "state": self.tweets.snapshot()},
            "processor": self.processor.snapshot(),
        }
        checkpoint.save(self.store, self.source_name, position, state)
        self.source.save(self.store)
        status, phase = market_phase(self.exchange, position)
        self.store.set_market_status(MarketStatus(self.market, status, phase, position))
        self._last_checkpoint = time.monotonic()

    def _checkpoint_due(self) -> bool:
        return time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_seconds

    # -- the loop ----------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    async def _on_stream(self, fn: Callable[..., None], *args: Any) -> None:
        """``fn(*args)`` on the stream thread, awaited."""
        await asyncio.get_running_loop().run_in_executor(self._stream_thread, fn, *args)

    async def run_until(self, until: int) -> None:
        """Advance a clocked source to ``until`` (event time) at once: tests and replays."""
        await self._on_stream(self.step, until)

    async def run(self) -> None:
        """Run the source until :meth:`stop` (or its end); then stop cleanly."""
        try:
            if self.source.clocked:
                await self._run_clocked()
            else:
                await self._run_streaming()
        finally:
            await self.shutdown()

    #: the old name of :meth:`run`
    run_market = run

    async def _run_clocked(self) -> None:
        while not self._stop.is_set():
            if self.fast:
                start = self.sim_time or self.clock.start
                until = start + FAST_STEP_MS
                if self.jobs is not None:  # stop at the next fire time
                    until = self.jobs.limit(start, until)
            else:
                until = self.clock.now()
            if self.stop_at is not None:
                until = min(until, self.stop_at)
            await self._on_stream(self.step, until)
            if self.jobs is not None and self.jobs.synchronous:
                await self._on_stream(self.jobs.step)
            if self.stop_at is not None and (self.sim_time or 0) >= self.stop_at:
                return
            if self.source.finished:
                self.echo("Source finished: nothing more to replay")
                return
            if self._checkpoint_due():
                await self._on_stream(self.checkpoint)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0 if self.fast else TICK_SECONDS)

    async def _run_streaming(self) -> None:
        async for batch in self.source.stream(self._stop):
            await self._on_stream(self.feed, batch)
            if self._checkpoint_due():
                await self._on_stream(self.checkpoint)

    async def shutdown(self) -> None:
        """Complete the source's last minute, write open bars, checkpoint, close."""
        if self.source.clocked:
            until = self.source.stop_time()
            if until is not None and self.sim_time is not None and until > self.sim_time:
                await self._on_stream(self.step, until)
        await self._on_stream(self._close)
        self._stream_thread.shutdown(wait=False)

    def _close(self) -> None:
        if self.jobs is not None:  # a job in progress ends before the store closes
            self.jobs.close()
        if self.tweets is not None:
            self.tweets.close()
            more = self.processor.sentiment.rejects if self.processor.sentiment else None
            self.echo(self.tweets.summary(more))
        if self.catch_up_until is None:  # else the stored open bars are the fuller ones
            open_bars = [b for m in self.universe for b in self.processor.bars.open_bars(m.symbol)]
            self.sink.write(open_bars, [])
        self.checkpoint()
        if self._trading is not None:
            self._trading.close()
        self.consumer.close()
        self.bus.close()
        if self.capture is not None:
            self.capture.close()
        self.source.close()

    def step(self, until: int) -> None:
        """Step a clocked source to ``until`` and process it, a slice at a time.

        Slices are at most :data:`SLICE_MS` of event time; a stretch with no
        event (a night, a lunch break) is crossed in one slice.
        """
        src = self.source
        start = self.sim_time if self.sim_time is not None else until
        t = start
        if self.consumer.control is not None:  # rule changes, even while nothing trades
            self.consumer.control.poll()
        while t < until:
            nxt = min(until, t + SLICE_MS)
            quiet_until = src.next_event_time()
            if quiet_until is not None and quiet_until >= nxt:
                nxt = min(until, max(nxt, quiet_until))
            t = nxt
            events = src.step(t)
            self._catching_up(t)
            self._publish(events)
            for meta in self.universe:
                self.bus.send(Heartbeat(meta.symbol, t))
            self._after(t)
            if src.finished:  # a replay's end: no more slices to cross
                self.sim_time = t
                return
        self.sim_time = max(until, start)

    def feed(self, batch: Sequence[Any]) -> None:
        """Process one batch of a streaming source (its heartbeats carry the time)."""
        position = self.sim_time or 0
        for msg in batch:
            if isinstance(msg, Heartbeat):
                position = max(position, msg.ts)
            elif isinstance(msg, TradeBatch) and len(msg):
                position = max(position, int(msg.ts.max()))
        self._catching_up(position)
        self._publish(batch)
        self.sim_time = position
        self._after(position)

    def _after(self, until: int) -> None:
        """After a slice: process it, the source's rejects, then the tweets up to ``until``."""
        self.drain()
        rejects = self.source.take_rejects()
        if rejects:
            out = Output()
            for letter in rejects:
                self.processor.reject(letter, out)
            self.consumer.emit(out)
        if self.tweets is not None:
            self._step_tweets(self.tweets, until)
        if self._trading is not None:
            self._trading.after(until)

    def _step_tweets(self, feed: TweetFeed, until: int) -> None:
        """The tweets that entered before ``until``: factors -> signals, tweets and bad lines
        -> sinks, in one batch a slice."""
        tweets: list[Tweet] = feed.step(until)
        out = Output()
        for letter in feed.take_rejects():
            self.processor.reject(letter, out)
        self.processor.on_tweets(tweets, out)
        self.consumer.emit(out)  # nothing happens for an empty Output

    def _publish(self, events: Sequence[Any]) -> None:
        """Send source messages onto the bus (trades batched per symbol)."""
        if self.capture is not None:
            self.capture.write(
                m for m in events if isinstance(m, Trade | TradeBatch | BookSnapshot)
            )
        if self._trading is not None:
            self._trading.on_events(events)
        by_symbol: dict[str, list[Trade]] = defaultdict(list)
        bus = self.bus
        for ev in events:
            if isinstance(ev, Trade):
                by_symbol[ev.symbol].append(ev)
            elif isinstance(ev, TradeBatch):
                bus.send(ev)
                self.trades_seen += len(ev)
            elif isinstance(ev, BookSnapshot):
                bus.send(ev)
                self.books_seen += 1
            else:
                bus.send(ev)
        for trades in by_symbol.values():
            for batch in TradeBatch.from_trades(trades):
                bus.send(batch)
            self.trades_seen += len(trades)

    def drain(self) -> None:
        """Process everything waiting on the bus (in-process consumer)."""
        idle = 0
        while idle < (1 if self.in_process else 2):
            new = self.consumer.poll_once(timeout=0.0 if self.in_process else 0.05)
            idle = idle + 1 if new == 0 else 0

    def counters(self) -> RuntimeCounters:
        """Live counters for ``/metrics`` (:class:`quantdesk.api.context.RuntimeInfo`)."""
        lag = None
        if self.sim_time is not None and hasattr(self, "clock"):
            lag = max(0.0, (int(self.clock.now()) - int(self.sim_time)) / 1000)
        processor = getattr(self, "processor", None)
        return RuntimeCounters(
            trades=processor.trades_in if processor is not None else 0,
            bars_written=self.sink.bars_written,
            rejects=dict(processor.rejects) if processor is not None else {},
            event_lag_s=lag,
        )

    def describe(self) -> dict[str, Any]:
        """Live status for ``/health``."""
        return {
            "source": self.spec,
            "market": self.market,
            "clock": self.clock_kind if self.source.clocked else "source",
            "speed": self.speed,
            "sim_time": None if self.sim_time is None else iso(self.sim_time),
            "trades": self.trades_seen,
            "bars_written": self.sink.bars_written,
            "tweets": self.tweets.tweets if self.tweets is not None else 0,
            "uptime_s": round(time.time() - self.started_at, 1),
            "trading": self.trading.describe() if self.trading is not None else None,
        }
