"""The embedded runner behind ``quantdesk run``: one asyncio process.

It (1) migrates the store and backfills history if the store is empty,
(2) runs the live simulated market on a virtual (default) or wall clock and
publishes its trades, book snapshots and clock heartbeats onto the bus,
(3) consumes them as one member of the stream group (bars, factors,
indicators, signals, dead letters; see :mod:`quantdesk.runtime.consumer`),
upserting everything with the real-time price table, market status and
simulator state, (4) steps the tweet feed (``--tweets``, see
:mod:`quantdesk.sources.tweets`) with the same event clock: sentiment
factors through the signal rules, scored tweets and bad lines to the sinks,
and (5) serves the API.

With ``QUANTDESK_BUS=memory`` (default) everything stays in this process.
With ``QUANTDESK_BUS=kafka`` the same process publishes to Kafka and is one
member of the consumer group; ``quantdesk worker`` processes join the group
and take partitions (symbols) over.

SIGINT/SIGTERM stop it cleanly: the last events are processed, every open
bar is written as it stands, the simulator state is saved, the tweet feed is
closed (a live stream's reader thread is never waited on for long).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from quantdesk.backfill.run import run_backfill
from quantdesk.bars.buckets import bucket_start, place
from quantdesk.bus import Bus, Heartbeat, TradeBatch, bus_from_settings
from quantdesk.calendars import ExchangeCalendar, get_calendar
from quantdesk.capture import TickCapture
from quantdesk.config import Settings
from quantdesk.domain import INTERVALS, Bar, BookSnapshot, Trade
from quantdesk.export import CsvBarExporter
from quantdesk.runtime.clock import VirtualClock, WallClock
from quantdesk.runtime.consumer import StreamConsumer
from quantdesk.runtime.pipeline import Output, StreamProcessor
from quantdesk.runtime.server import api_config, freeze_startup_objects
from quantdesk.runtime.sink import StoreSink
from quantdesk.sources.simulator import MarketSimulator, SimulatorParams
from quantdesk.sources.tweets import TweetFeed, open_feed
from quantdesk.storage.base import MarketStatus, Store
from quantdesk.stream.signals import merge_rules
from quantdesk.universe import universe_for

log = logging.getLogger("quantdesk.runtime")

TICK_SECONDS = 0.25
STATE_EVERY_SECONDS = 5.0
#: Event time published per slice, so a fast clock never floods the bus.
SLICE_MS = 60_000


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


class _PublishingConsumer(StreamConsumer):
    """A consumer that also hands every Output to listeners (the API's WebSocket hub).

    Listeners run on the stream thread and must not block
    (:meth:`quantdesk.api.hub.Hub.publish_output` only schedules work on its loop).
    They are called *before* the store write: live clients do not wait for a
    SQLite commit (p99 ~15 ms), and the event loop sends while the write runs
    (sqlite3 releases the GIL).
    """

    listeners: list[Callable[[Output], None]]

    def emit(self, out: Output) -> None:
        if out:
            for listener in self.listeners:
                listener(out)
        super().emit(out)


class EmbeddedRuntime:
    """Simulator -> bars -> store, on one event loop, beside the API server."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        market: str | None = None,
        clock: str = "virtual",
        speed: float | None = None,
        test_mode: bool = False,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.store = store
        self.market = market or settings.market
        self.calendar = get_calendar(self.market)
        self.clock_kind = clock
        self.speed = speed if speed is not None else settings.sim_speed
        self.test_mode = test_mode
        self.echo = echo
        self.universe = universe_for(settings, self.market)
        self.sink = StoreSink(store)
        self.trades_seen = 0
        self.books_seen = 0
        self.sim_time: int | None = None
        self.started_at = time.time()
        self._stop = asyncio.Event()
        #: called with each processed Output (bars, factors, signals, dead letters)
        self.output_listeners: list[Callable[[Output], None]] = []

    # -- set-up ------------------------------------------------------------

    def prepare(self) -> None:
        """Migrate, register the universe, backfill an empty store, build the simulator."""
        self.store.migrate()
        self.store.upsert_metadata(self.universe)
        if self.store.count_bars() == 0 and self.settings.backfill_days > 0:
            self.echo(
                f"Empty store: backfilling {self.settings.backfill_days} trading days "
                f"of {len(self.universe)} {self.market} stocks ..."
            )
            report = run_backfill(
                self.store, self.settings, days=self.settings.backfill_days, market=self.market
            )
            self.echo(
                f"Backfilled {report.bars_total:,} bars ({report.first_day} .. {report.last_day}) "
                f"in {report.seconds:.1f} s"
            )
        states = {s: st for s, st in self.store.load_states().items() if s in self._symbols()}
        resume = self._resume_time(states)
        if self.clock_kind == "wall":
            self.clock: VirtualClock | WallClock = WallClock()
            start = self.clock.start
            self.echo("Clock: wall (real exchange time; nothing trades while the market is closed)")
        else:
            self.clock = VirtualClock(self.calendar, resume, self.speed, test_mode=self.test_mode)
            start = self.clock.start
            mode = "sessions ignored, --test" if self.test_mode else "closed periods skipped"
            self.echo(
                f"Clock: virtual, {self.speed:g}x real time, continuing the stored history at "
                f"{_fmt(start, self.calendar)} ({mode})"
            )
        self.simulator = MarketSimulator(
            self.universe,
            self.calendar,
            seed=self.settings.seed,
            params=SimulatorParams.from_settings(self.settings),
            states=states or None,
            start_ms=start,
            test_mode=self.test_mode,
        )
        self.processor = StreamProcessor(
            None if self.test_mode else self.calendar,
            self._symbols(),
            rules=merge_rules(self.settings.signal_rules, self.store.load_signal_rules()),
        )
        self.sentiment: TweetFeed | None = open_feed(
            self.settings,
            self.universe,
            start_ms=start,
            virtual_clock=self.clock_kind != "wall",
            echo=self.echo,
        )
        self.echo(f"Tweets: {self.sentiment.describe() if self.sentiment else 'off'}")
        self.capture = (
            TickCapture(
                self.settings.data_dir / "ticks", batch_rows=self.settings.capture_batch_rows
            )
            if self.settings.capture_ticks
            else None
        )
        if self.settings.export_csv:
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
        in_process = self.settings.bus == "memory"
        self.consumer = _PublishingConsumer(
            self.bus,
            self.processor,
            self.sink,
            checkpoint_seconds=None if in_process else self.settings.checkpoint_seconds,
        )
        self.consumer.listeners = self.output_listeners
        if in_process:  # a fresh in-memory bus: continue the stored open bars instead
            self._seed_open_bars(start)
        self.sim_time = start

    def _symbols(self) -> set[str]:
        return {m.symbol for m in self.universe}

    def _resume_time(self, states: dict[str, Any]) -> int:
        if states:  # a state's time is the start of its last simulated minute
            return max(int(s.time) for s in states.values()) + 60_000
        last = self.store.last_bar_time("1m")
        if last is not None:
            return last + 60_000
        return int(time.time() * 1000)

    def _seed_open_bars(self, resume: int) -> None:
        """Continue the bars that contain the resume time, so a restart loses no trade."""
        calendar = None if self.test_mode else self.calendar
        t_eff, seg, valid = place(np.array([resume], dtype=np.int64), calendar)
        if not bool(valid[0]):
            return
        for interval in INTERVALS:
            start = int(bucket_start(t_eff, seg, interval, calendar)[0])
            for meta in self.universe:
                rows = self.store.query_bars(meta.symbol, interval, start, start + 1, 1)
                if rows:
                    self.processor.bars.seed(Bar(*rows[0]), resume)

    # -- the loop ----------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    async def run_until(self, until: int) -> None:
        """Advance the market to ``until`` (event time) at once: for tests and replays."""
        await self._step(until)

    async def shutdown(self) -> None:
        """What :meth:`run_market` does on stop: drain the minute, write open bars and state."""
        await self._step(self._generated_until())
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        if self.sentiment is not None:
            self.sentiment.close()
            self.echo(self.sentiment.summary())
        open_bars = [b for m in self.universe for b in self.processor.bars.open_bars(m.symbol)]
        self.sink.write(open_bars, [])
        self._save_state()
        self.consumer.close()
        self.bus.close()
        if self.capture is not None:
            self.capture.close()

    async def run_market(self) -> None:
        """Advance the simulator with the clock until :meth:`stop`; then flush."""
        last_state = time.monotonic()
        try:
            while not self._stop.is_set():
                await self._step(self.clock.now())
                if time.monotonic() - last_state >= STATE_EVERY_SECONDS:
                    await asyncio.to_thread(self._save_state)
                    last_state = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), TICK_SECONDS)
        finally:
            await self._step(self.clock.now())
            await self.shutdown()

    async def _step(self, until: int) -> None:
        await asyncio.to_thread(self.step, until)

    def step(self, until: int) -> None:
        """Publish the market up to ``until`` and process it, a slice at a time.

        Slices are at most :data:`SLICE_MS` of event time; a stretch with no
        event (a night, a lunch break) is crossed in one slice.
        """
        start = self.sim_time if self.sim_time is not None else until
        t = start
        while t < until:
            nxt = min(until, t + SLICE_MS)
            quiet_until = self.simulator.next_event_time()
            if quiet_until >= nxt:
                nxt = min(until, max(nxt, quiet_until))
            t = nxt
            events = self.simulator.advance(t)
            if self.capture is not None:
                self.capture.write(events)
            self.publish(events, t)
            self.drain()
            if self.sentiment is not None:
                self._step_tweets(self.sentiment, t)
        self.sim_time = max(until, start)

    def _step_tweets(self, feed: TweetFeed, until: int) -> None:
        """The tweets that entered before ``until``: factors -> signals, tweets and bad lines
        -> sinks, in one batch a slice."""
        factors, tweets = feed.step(until)
        out = Output(tweets=tweets)
        for letter in feed.take_rejects():
            self.processor.reject(letter, out)
        self.processor.on_factors(factors, out)
        self.consumer.emit(out)  # nothing happens for an empty Output

    def publish(self, events: list[Trade | BookSnapshot], until: int) -> None:
        """Send one slice of simulator events onto the bus, then a heartbeat per symbol."""
        by_symbol: dict[str, list[Trade]] = defaultdict(list)
        bus = self.bus
        for ev in events:
            if isinstance(ev, Trade):
                by_symbol[ev.symbol].append(ev)
            else:
                bus.send(ev)
                self.books_seen += 1
        for trades in by_symbol.values():
            for batch in TradeBatch.from_trades(trades):
                bus.send(batch)
            self.trades_seen += len(trades)
        for meta in self.universe:
            bus.send(Heartbeat(meta.symbol, until))

    def drain(self) -> None:
        """Process everything waiting on the bus (in-process consumer)."""
        in_process = self.settings.bus == "memory"
        idle = 0
        while idle < (1 if in_process else 2):
            new = self.consumer.poll_once(timeout=0.0 if in_process else 0.05)
            idle = idle + 1 if new == 0 else 0

    def _generated_until(self) -> int:
        """The end of the last minute the simulator generated: the next resume point."""
        states = self.simulator.states()
        last = max((s.time for s in states.values()), default=self.sim_time or 0)
        return max(last + 60_000, self.sim_time or 0)

    def _save_state(self) -> None:
        self.store.save_states(list(self.simulator.states().values()))
        if self.sim_time is not None:
            status, phase = market_phase(self.calendar, self.sim_time)
            self.store.set_market_status(MarketStatus(self.market, status, phase, self.sim_time))

    def describe(self) -> dict[str, Any]:
        """Live status for ``/health``."""
        return {
            "market": self.market,
            "clock": self.clock_kind,
            "speed": self.speed,
            "sim_time": None if self.sim_time is None else _iso(self.sim_time),
            "trades": self.trades_seen,
            "bars_written": self.sink.bars_written,
            "tweets": self.sentiment.tweets if self.sentiment is not None else 0,
            "uptime_s": round(time.time() - self.started_at, 1),
        }


def _iso(t_ms: int) -> str:
    return dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.UTC).isoformat()


def _fmt(t_ms: int, calendar: ExchangeCalendar) -> str:
    local = dt.datetime.fromtimestamp(t_ms / 1000, tz=calendar.tz)
    return f"{local:%Y-%m-%d %H:%M} {calendar.tz.key}"


@contextlib.contextmanager
def _signals(loop: asyncio.AbstractEventLoop, on_signal: Callable[[], None]) -> Iterator[None]:
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def serve_platform(runtime: EmbeddedRuntime, host: str, port: int, api: bool = True) -> None:
    """Run the market loop and (optionally) the API until SIGINT/SIGTERM."""
    from quantdesk.api.app import create_app

    server: _QuietServer | None = None
    tasks = [asyncio.create_task(runtime.run_market(), name="market")]
    if api:
        app = create_app(runtime.store, runtime.settings, runtime, echo=runtime.echo)
        config = api_config(app, host, port, lifespan="off")
        freeze_startup_objects()
        quiet = server = _QuietServer(config)
        tasks.append(asyncio.create_task(quiet.serve(), name="api"))
        runtime.echo(
            f"API on http://{host}:{port} (GET /health, /api/klines, /docs; WebSocket /ws/...)"
        )

    def on_signal() -> None:
        if not runtime.stopping:
            runtime.echo("Stopping: flushing bars and state ...")
        runtime.stop()
        if server is not None:
            server.should_exit = True

    with _signals(asyncio.get_running_loop(), on_signal):
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # one stopped on its own (the API: port in use; the market: e.g. the Twitter stream
        # refused the token): stop the other too, then raise the first error
        runtime.stop()
        if server is not None:
            server.should_exit = True
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


async def serve_finnhub(
    settings: Settings,
    store: Store,
    symbols: list[str],
    host: str,
    port: int,
    *,
    api: bool = True,
    echo: Callable[[str], None] = print,
) -> None:
    """``quantdesk run --source finnhub``: live Finnhub trades into the store, plus the API."""
    from quantdesk.api.app import create_app
    from quantdesk.sources.finnhub.runner import run_finnhub_ingest

    stop = asyncio.Event()
    server: _QuietServer | None = None
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(
            run_finnhub_ingest(settings, symbols, store, stop=stop, handle_signals=False),
            name="finnhub",
        )
    ]
    if api:
        config = api_config(create_app(store, settings), host, port, lifespan="off")
        freeze_startup_objects()
        quiet = server = _QuietServer(config)
        tasks.append(asyncio.create_task(quiet.serve(), name="api"))
        echo(f"API on http://{host}:{port} (GET /health, /api/klines, /docs)")

    def on_signal() -> None:
        if not stop.is_set():
            echo("Stopping: flushing bars ...")
        stop.set()
        if server is not None:
            server.should_exit = True

    with _signals(asyncio.get_running_loop(), on_signal):
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        on_signal()
        await asyncio.gather(*tasks)


class _QuietServer:
    """A uvicorn server whose signals are handled by the runtime, not by uvicorn."""

    def __init__(self, config: Any) -> None:
        import uvicorn

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        self._server = _Server(config)

    @property
    def should_exit(self) -> bool:
        return bool(self._server.should_exit)

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._server.should_exit = value

    async def serve(self) -> None:
        await self._server.serve()
        if not self._server.started:
            config = self._server.config
            raise SystemExit(f"API server could not start on {config.host}:{config.port}")
