"""Fan-out primitives of the WebSocket hub: shared feeds, a send budget, clients.

Why not one queue per client. At ``--speed 60`` the pipeline produces about
2,000 messages a second; 200 clients subscribed to everything would need
400,000 sends a second, several times what one event loop can do. Copying
every message into every client's queue, and letting every client's sender
drain it, had the loop doing nothing else: ``/health`` waited 6-14 s. So:

* **A feed per channel** (:class:`Feed`): each message is encoded once and
  stored once, whatever the number of clients; a client is a cursor into the
  feed (the sequence number of the last entry it took), so pushing a message
  costs the same for 1 client or 1,000. A feed is bounded in entries and in
  bytes; a client that falls further behind loses the oldest entries
  (counted as drops), never holds memory or the pipeline back.
* **Latest state per key** (conflation): an entry with a key (an open bar's
  ``(symbol, interval, time)``, a factor's ``(symbol, name, interval)``)
  replaces the older entry of that key and moves to the end. A client that
  keeps up sees every update; one that is behind gets each key's newest
  value once, instead of every stale one. Final bars share their key with
  the open bar they close, so a lagging client always ends with the final
  bar. Signals, tweets, dead letters and logs have no key: each is kept.
* **A send budget** (:class:`SendBudget`): every client's sender spends from
  one token bucket of event-loop time (by default 35% of the loop, in
  slices of at most 4 ms). When it is spent, senders wait in line while the
  loop serves HTTP; a client that cannot be served at its rate falls behind
  in the feed and gets conflated updates. The loop is never monopolised by
  fan-out, whatever the number of clients.
* **Direct replies** (welcome, subscribed, pong, error) go to a small
  per-client queue (:data:`DIRECT_MAX` messages; a client flooding the
  server with pings loses the oldest pongs).
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Final, Protocol

#: Types that carry a symbol (and maybe an interval): the market channel filters these.
FILTERED: Final = frozenset({"bar", "factor", "signal", "tweet"})
#: Replies a client may have waiting (the oldest are dropped beyond).
DIRECT_MAX: Final = 32
#: Bytes counted per feed entry besides its text.
ENTRY_OVERHEAD: Final = 150
#: Share of the event loop's time that WebSocket sends may use, and one slice.
SEND_SHARE: Final = 0.35
SEND_SLICE_S: Final = 0.004

#: The symbol(s) a message is about: one, several (a tweet) or none.
Symbols = str | tuple[str, ...] | None


class Socket(Protocol):
    """What a client needs of a WebSocket (Starlette's fits)."""

    async def send_text(self, data: str) -> None: ...


class Entry:
    """One encoded message in a feed."""

    __slots__ = ("interval", "kind", "nbytes", "seq", "symbols", "text")

    def __init__(
        self, kind: str, text: str, symbols: Symbols = None, interval: str | None = None
    ) -> None:
        self.kind = kind
        self.text = text
        self.symbols = symbols
        self.interval = interval
        self.seq = 0
        self.nbytes = len(text) + ENTRY_OVERHEAD


class Feed:
    """The messages of one channel, each encoded once, bounded in entries and bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max(1, max_entries)
        self.max_bytes = max(1, max_bytes)
        self.entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self.seq = 0
        self.nbytes = 0
        #: sequence numbers of the entries trimmed recently (ascending), to count drops
        self.trimmed: deque[int] = deque(maxlen=4 * self.max_entries)

    def put(self, entry: Entry, key: Hashable | None = None) -> None:
        """Append ``entry``; with a ``key``, it replaces (and moves past) the older one."""
        self.seq += 1
        entry.seq = self.seq
        entries = self.entries
        if key is None:
            key = self.seq  # ints never collide with the tuple keys
        else:
            old = entries.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
        entries[key] = entry
        self.nbytes += entry.nbytes
        while len(entries) > self.max_entries or (
            self.nbytes > self.max_bytes and len(entries) > 1
        ):
            _, first = entries.popitem(last=False)
            self.nbytes -= first.nbytes
            self.trimmed.append(first.seq)

    def since(self, cursor: int) -> list[Entry]:
        """The entries after sequence number ``cursor``, oldest first."""
        out: list[Entry] = []
        if cursor >= self.seq:
            return out
        for entry in reversed(self.entries.values()):
            if entry.seq <= cursor:
                break
            out.append(entry)
        out.reverse()
        return out

    def lost_since(self, cursor: int) -> int:
        """How many entries after ``cursor`` were trimmed before a reader took them."""
        trimmed = self.trimmed
        if not trimmed or trimmed[-1] <= cursor:
            return 0
        return len(trimmed) - bisect_right(trimmed, cursor)


class SendBudget:
    """A token bucket of event-loop seconds shared by every client's sender.

    Tokens refill at ``share`` seconds per second up to one ``slice_s``. A
    sender :meth:`acquire`\\ s, sends for at most one slice, :meth:`spend`\\ s
    what it used and :meth:`release`\\ s. While the bucket is empty, senders
    wait in line (first come, first served), each woken only when there are
    tokens for it, so waiting costs nothing.
    """

    def __init__(self, share: float = SEND_SHARE, slice_s: float = SEND_SLICE_S) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share: between 0 and 1 (got {share})")
        self.share = share
        self.slice_s = slice_s
        self._tokens = slice_s
        self._t = time.perf_counter()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self.waits = 0

    def _refill(self) -> None:
        now = time.perf_counter()
        self._tokens = min(self.slice_s, self._tokens + (now - self._t) * self.share)
        self._t = now

    async def acquire(self) -> None:
        self._refill()
        if self._tokens > 0 and not self._waiters:
            return
        self.waits += 1
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._arm()
        try:
            await fut
        except asyncio.CancelledError:
            if fut in self._waiters:
                self._waiters.remove(fut)
            elif fut.done() and not fut.cancelled():
                self._wake_next()  # we were given the turn: pass it on
            raise

    def spend(self, seconds: float) -> None:
        # a send that waited for a slow socket counts at most two slices
        self._tokens -= min(seconds, 2 * self.slice_s)

    def release(self) -> None:
        self._refill()
        self._wake_next()

    def _wake_next(self) -> None:
        waiters = self._waiters
        while waiters and self._tokens > 0:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        if waiters:
            self._arm()

    def _arm(self) -> None:
        if self._timer is None:
            delay = max(0.001, -self._tokens / self.share)
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._refill()
        self._wake_next()


class Client:
    """One connected socket: a channel, a subscription, a cursor in the channel's feed."""

    def __init__(
        self,
        ws: Socket,
        channel: str,
        types: frozenset[str],
        feed: Feed,
        budget: SendBudget,
        user: str = "",
    ) -> None:
        self.ws = ws
        self.channel = channel
        self.types = types
        self.feed = feed
        self.budget = budget
        self.user = user
        self.cursor = feed.seq  # a new client starts with what comes next
        self.direct: deque[str] = deque(maxlen=DIRECT_MAX)
        self.pending: deque[str] = deque()
        self.wake = asyncio.Event()
        self.drops = 0
        self.sent = 0
        #: market channel: None = nothing subscribed yet
        self.symbols: frozenset[str] | None = None
        self.intervals: frozenset[str] | None = None

    def wants(self, kind: str, symbol: Symbols, interval: str | None) -> bool:
        if kind not in self.types:
            return False
        if self.channel != "market" or kind not in FILTERED:
            return True
        if self.symbols is None:
            return False
        if "*" not in self.symbols:
            # a tweet names several symbols: any one subscribed will do
            named = symbol if isinstance(symbol, tuple) else (symbol,)
            if self.symbols.isdisjoint(named):
                return False
        # factors of the order book have interval "" and pass any interval filter
        return not interval or not self.intervals or interval in self.intervals

    def reply(self, text: str) -> None:
        """Queue a direct message (welcome, subscribed, pong, error)."""
        if len(self.direct) == self.direct.maxlen:
            self.drops += 1
        self.direct.append(text)
        self.wake.set()

    def _collect(self) -> int:
        """Move what is due from the feed to ``pending``; return drops found."""
        feed = self.feed
        lost = feed.lost_since(self.cursor)
        if self.cursor < feed.seq:
            wants = self.wants
            self.pending.extend(
                e.text for e in feed.since(self.cursor) if wants(e.kind, e.symbols, e.interval)
            )
            self.cursor = feed.seq
        self.drops += lost
        return lost

    async def run_sender(self) -> None:
        """Send direct replies and feed entries, within the budget, until cancelled."""
        ws, budget, direct, pending = self.ws, self.budget, self.direct, self.pending
        clock = time.perf_counter
        while True:
            await self.wake.wait()
            self.wake.clear()
            while True:
                await budget.acquire()
                t0 = clock()
                try:
                    if not pending:
                        self._collect()
                    if not direct and not pending:
                        break
                    end = t0 + budget.slice_s
                    while direct or pending:
                        text = direct.popleft() if direct else pending.popleft()
                        await ws.send_text(text)
                        self.sent += 1
                        if clock() >= end:
                            break
                finally:
                    budget.spend(clock() - t0)
                    budget.release()
