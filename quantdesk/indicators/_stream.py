"""The base of the streaming indicators: one bar in, one value out, O(1) each.

Every streaming class mirrors a vectorized function of the same family and
returns, bar by bar, the value that function gives for the whole series
(within 1e-9 relative): NaN while warming up, and NaN for leading bars that
hold a NaN (the indicator starts on the first complete bar, as TA-Lib does).
State is a handful of floats and fixed-size ring buffers (the period's
length), never a growing history. ``state()`` / ``restore()`` snapshot it,
e.g. to persist an operator across restarts.
"""

from __future__ import annotations

import copy
from typing import Any

from quantdesk.errors import DataError


class StreamingIndicator:
    """Base class: ``__slots__`` only, plus state snapshots.

    ============  =========  ==================================================
    member        required   meaning
    ============  =========  ==================================================
    update(...)   yes        one bar in; the indicator's value(s) out
    lookback      yes        NaN outputs after the first complete bar
    state()       inherited  a deep copy of every slot, as a dict
    restore(s)    inherited  put a ``state()`` back (same class and periods)
    ============  =========  ==================================================
    """

    __slots__ = ("lookback",)

    lookback: int

    def _slot_names(self) -> list[str]:
        names: list[str] = []
        for cls in type(self).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if name not in names:
                    names.append(name)
        return names

    def state(self) -> dict[str, Any]:
        """A snapshot of the indicator (plain Python values, deep-copied)."""
        return {name: copy.deepcopy(getattr(self, name)) for name in self._slot_names()}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (taken from an indicator of the same class)."""
        missing = [name for name in self._slot_names() if name not in state]
        if missing:
            raise DataError(f"state lacks {', '.join(missing)}; pass a state() of this class")
        for name in self._slot_names():
            setattr(self, name, copy.deepcopy(state[name]))

    def __repr__(self) -> str:
        params = {
            name: getattr(self, name)
            for name in self._slot_names()
            if not name.startswith("_") and name != "lookback"
        }
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{type(self).__name__}({shown})"
