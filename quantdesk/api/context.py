"""What the API needs, typed: :class:`ApiContext` is what ``create_app`` takes.

The API serves a store (history, users, rules), reads live output from the
bus (the WebSocket hub) and writes control messages to it (rule changes). It
holds no processing state, so any number of API processes can serve one
platform (``quantdesk serve --workers N``). When a runtime lives in the same
process (``quantdesk run``), the API may show its figures (``/health``,
``/metrics``) through :class:`RuntimeInfo`, and nothing else: changes never
go to a runtime object, they travel on the bus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from quantdesk.bus import Bus
    from quantdesk.config import Settings
    from quantdesk.storage.base import Store


@dataclass(frozen=True, slots=True)
class RuntimeCounters:
    """Live counters of an in-process runtime (``/metrics``, ``/api/rejects``)."""

    trades: int = 0
    bars_written: int = 0
    rejects: dict[str, int] = field(default_factory=dict)
    #: how far processed event time trails the market clock (None: unknown)
    event_lag_s: float | None = None


class RuntimeInfo(Protocol):
    """The figures of a runtime running in the API's process (read-only)."""

    market: str

    @property
    def stopping(self) -> bool: ...

    def describe(self) -> dict[str, Any]:
        """Status shown on ``/health`` and the ``pipeline_status`` channel."""
        ...

    def counters(self) -> RuntimeCounters: ...


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What :func:`quantdesk.api.app.create_app` serves.

    ``bus`` (optional): where live output is read from and control messages
    go; without one the API serves stored data only. ``runtime`` (optional):
    figures of a runtime in this process.
    """

    store: Store
    settings: Settings
    bus: Bus | None = None
    runtime: RuntimeInfo | None = None
