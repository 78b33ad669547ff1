"""Trade validation: bad prints are counted by reason and set aside, never fatal.

Checks, in order (the first failing one is the reason):

================  ============================================================
reason            a trade is rejected when
================  ============================================================
unknown_symbol    the symbol is not in the universe (when one is given)
not_finite        price or size is NaN or infinite
bad_price         price <= 0
bad_size          size <= 0
skew              the timestamp is further than ``max_skew_ms`` from the
                  watermark (either side; only once a watermark exists)
duplicate_id      the feed has trade ids and this id was seen recently
================  ============================================================

"Recently": the last ``id_memory`` ids (100,000), and at most
``id_memory_bytes`` of id text (8 MiB: a feed of very long ids gets a shorter
memory, not a larger process). The ids are a set and a queue in arrival order
(the oldest is forgotten first): about 11 MiB for 100,000 ids, half what an
``OrderedDict`` holds for them.

Structural problems (bad JSON, missing fields, wrong types) are found
earlier, by the bus codec, with their own reasons.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

REASONS = ("unknown_symbol", "not_finite", "bad_price", "bad_size", "skew", "duplicate_id")


class TradeValidator:
    """Vectorized checks over one symbol's batch of trades."""

    def __init__(
        self,
        symbols: Collection[str] | None = None,
        *,
        max_skew_ms: int = 3_600_000,
        id_memory: int = 100_000,
        id_memory_bytes: int = 8 << 20,
    ) -> None:
        self.symbols = frozenset(symbols) if symbols is not None else None
        self.max_skew_ms = max_skew_ms
        self.id_memory = id_memory
        self.id_memory_bytes = id_memory_bytes
        self.counters: Counter[str] = Counter()
        self._seen: set[str] = set()
        self._order: deque[str] = deque()  # the ids of _seen, oldest first
        self._id_bytes = 0  # the length of the ids in _seen

    def check(
        self,
        symbol: str,
        ts: I64,
        price: F64,
        size: F64,
        ids: Sequence[str | None] | None = None,
        watermark: int | None = None,
    ) -> tuple[Mask, list[tuple[int, str]]]:
        """Return ``(ok, rejects)``: a keep-mask and ``(index, reason)`` for each dropped trade."""
        n = len(ts)
        if self.symbols is not None and symbol not in self.symbols:
            self.counters["unknown_symbol"] += n
            return np.zeros(n, dtype=np.bool_), [(i, "unknown_symbol") for i in range(n)]
        reason = np.zeros(n, dtype=np.int8)  # index into REASONS + 1; 0 = fine
        finite = np.isfinite(price) & np.isfinite(size)
        reason[~finite] = 2
        with np.errstate(invalid="ignore"):
            reason[(reason == 0) & (price <= 0)] = 3
            reason[(reason == 0) & (size <= 0)] = 4
        if watermark is not None and watermark > -(2**61):
            reason[(reason == 0) & (np.abs(ts - watermark) > self.max_skew_ms)] = 5
        if ids is not None:
            seen, order = self._seen, self._order
            for i, trade_id in enumerate(ids):
                if trade_id is None or reason[i]:
                    continue
                key = f"{symbol}\x00{trade_id}"
                if key in seen:
                    reason[i] = 6
                    continue
                seen.add(key)
                order.append(key)
                self._id_bytes += len(key)
                while len(order) > self.id_memory or self._id_bytes > self.id_memory_bytes:
                    old = order.popleft()
                    seen.discard(old)
                    self._id_bytes -= len(old)
        ok = reason == 0
        if ok.all():
            return ok, []
        rejects = [(int(i), REASONS[int(reason[i]) - 1]) for i in np.flatnonzero(~ok)]
        for _, why in rejects:
            self.counters[why] += 1
        return ok, rejects
