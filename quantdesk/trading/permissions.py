"""Per-stock trading permissions as the market rules and the risk checks read them.

The jobs keep ``stock_permissions`` (:mod:`quantdesk.storage.permissions`): each
stock's board, whether it is ST (special treatment), suspended or still listed.
A :class:`PermissionView` is a snapshot of that table held by the live
:class:`~quantdesk.trading.market.MarketRules` (``rules.permissions``):

* the **board** and the **ST** flag set the daily price limits (a stored board
  wins over the one read from the code; a stock is ST when the table says so
  *or* ``QUANTDESK_ST_SYMBOLS`` names it);
* a **suspended** or **delisted** stock is not tradable: the risk engine denies
  every new order for it (``not tradable: ...``); cancels always pass.

:meth:`PermissionView.refresh` reloads the table (the live desk does it at the
start of every trading day, so the morning's ``price_sync`` suspension flags
count from the open) and clears the limit cache of the rules it serves.
Backtests run without a view: today's flags applied to past days would look
ahead; they use ``QUANTDESK_ST_SYMBOLS`` and the boards of the codes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

__all__ = ["PermissionLike", "PermissionView"]


class PermissionLike(Protocol):
    """What a view needs of one stored permission (``storage.permissions.Permission``)."""

    @property
    def symbol(self) -> str: ...
    @property
    def board(self) -> str: ...
    @property
    def st(self) -> bool: ...
    @property
    def suspended(self) -> bool: ...
    @property
    def listed(self) -> bool: ...
    @property
    def reason(self) -> str: ...


class PermissionView:
    """A snapshot of the permission table; ``loader`` reads it again on :meth:`refresh`."""

    def __init__(self, loader: Callable[[], Iterable[PermissionLike]]) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._boards: dict[str, str] = {}
        self._st: frozenset[str] = frozenset()
        self._blocked: dict[str, str] = {}
        self._caches: list[dict[Any, Any]] = []
        self.version = 0
        self.refresh()

    @classmethod
    def of(cls, permissions: Iterable[PermissionLike]) -> PermissionView:
        """A fixed view (tests, notebooks)."""
        rows = list(permissions)
        return cls(lambda: rows)

    def refresh(self) -> int:
        """Reload the table; return how many stocks it covers."""
        rows = list(self._loader())
        boards = {p.symbol: p.board for p in rows}
        st = frozenset(p.symbol for p in rows if p.st)
        blocked = {}
        for p in rows:
            why = f" ({p.reason})" if p.reason else ""
            if not p.listed:
                blocked[p.symbol] = f"{p.symbol} is delisted{why}"
            elif p.suspended:
                blocked[p.symbol] = f"{p.symbol} is suspended{why}"
        with self._lock:
            self._boards, self._st, self._blocked = boards, st, blocked
            self.version += 1
            for cache in self._caches:
                cache.clear()
        return len(rows)

    def attach_cache(self, cache: dict[Any, Any]) -> None:
        """A per-symbol cache that depends on this view (cleared on every refresh)."""
        self._caches.append(cache)

    def board(self, symbol: str) -> str | None:
        """The stored board (``main``, ``star``, ``chinext``, ``bse``, ``us``) or None."""
        return self._boards.get(symbol)

    def is_st(self, symbol: str) -> bool:
        return symbol in self._st

    def blocked(self, symbol: str) -> str | None:
        """Why ``symbol`` may not be traded now (suspended, delisted), or None."""
        return self._blocked.get(symbol)

    def __len__(self) -> int:
        return len(self._boards)
