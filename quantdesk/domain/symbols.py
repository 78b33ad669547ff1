"""One symbol resolver for the CLI and every endpoint.

A user may type a symbol in any of the spellings the markets use; each is
resolved against the known symbols (the universe, or ``stock_metadata``) to
the one canonical spelling the store uses, or refused with the nearest
known names:

======================  ==============  =====================================
typed                   resolves to     rule
======================  ==============  =====================================
``600036.SH``           ``600036.SH``   exact
``600036.sh``, ``aapl`` ``600036.SH``,  case-insensitive
                        ``AAPL``
``600036``              ``600036.SH``   a bare A-share code: the known symbol
                                        with that code (Shanghai, Shenzhen or
                                        Beijing)
``600036.SS``           ``600036.SH``   Yahoo's Shanghai suffix
``sh600036``            ``600036.SH``   the exchange-prefix form (AkShare, Sina)
``BRK-B``               ``BRK.B``       a class share with a dash
``XYZ``                 (refused)       :class:`~quantdesk.errors.NotFoundError`
                                        naming the nearest known symbols
======================  ==============  =====================================

The API answers a refusal with 404, the CLI with exit code 2; both print the
same one line. Pure: no I/O, the caller passes what is known.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping
from typing import Final, Protocol

from quantdesk.domain.intervals import INTERVALS
from quantdesk.errors import NotFoundError

__all__ = [
    "MAX_SYMBOL_LENGTH",
    "BarTimes",
    "has_bars",
    "nearest_symbols",
    "resolve_symbol",
    "spellings",
]

MAX_SYMBOL_LENGTH: Final = 32
_BARE_CN: Final = re.compile(r"\d{6}")
_SUFFIXED: Final = re.compile(r"(\d{6})\.(SH|SZ|BJ|SS)")
_PREFIXED: Final = re.compile(r"(SH|SZ|BJ)(\d{6})")


def spellings(text: str) -> list[str]:
    """Canonical candidates for a spelling, most likely first."""
    up = text.strip().upper()
    m = _SUFFIXED.fullmatch(up)
    if m is not None:
        return [f"{m.group(1)}.{'SH' if m.group(2) == 'SS' else m.group(2)}"]
    m = _PREFIXED.fullmatch(up)
    if m is not None:
        return [f"{m.group(2)}.{m.group(1)}"]
    if _BARE_CN.fullmatch(up):
        return [f"{up}.SH", f"{up}.SZ", f"{up}.BJ"]
    return [up, up.replace("-", ".")]


class BarTimes(Protocol):
    """What :func:`has_bars` needs of a store."""

    def last_bar_time(self, interval: str = "1m", symbol: str | None = None) -> int | None: ...


def has_bars(store: BarTimes, symbol: str) -> bool:
    """Whether ``store`` holds any bar of ``symbol`` (any interval): the ``exists``
    check for symbols without metadata (an imported file)."""
    return any(store.last_bar_time(interval, symbol) is not None for interval in INTERVALS)


def nearest_symbols(text: str, known: Collection[str], n: int = 3) -> list[str]:
    """Up to ``n`` known symbols closest to ``text`` (by spelling, then shared code digits)."""
    up = text.strip().upper()[:MAX_SYMBOL_LENGTH]
    by_upper = {k.upper(): k for k in known}
    close = difflib.get_close_matches(up, list(by_upper), n=n, cutoff=0.5)
    if len(close) < n:
        code = up.split(".", 1)[0]
        close += [u for u in by_upper if u not in close and code and u.split(".", 1)[0] == code][
            : n - len(close)
        ]
    return [by_upper[u] for u in close]


def resolve_symbol(
    text: str,
    known: Collection[str] | Mapping[str, object],
    *,
    hint: str = "see /api/symbols",
    exists: Callable[[str], bool] | None = None,
) -> str:
    """The known symbol that ``text`` spells, or a one-line :class:`NotFoundError`.

    ``known`` holds the canonical symbols (a mapping's keys are used);
    ``exists`` (optional) is asked about the spellings ``known`` lacks (e.g.
    "does the store hold bars of it?": imported symbols need no metadata);
    ``hint`` ends the error (``see /api/symbols``, ``see quantdesk universe``).
    """
    symbols: Collection[str] = known.keys() if isinstance(known, Mapping) else known
    s = text.strip()
    if s in symbols:
        return s
    shown = repr(text[:MAX_SYMBOL_LENGTH]) + ("..." if len(text) > MAX_SYMBOL_LENGTH else "")
    if s and len(s) <= MAX_SYMBOL_LENGTH:
        by_upper = {k.upper(): k for k in symbols}
        candidates = spellings(s)
        found = [by_upper[c] for c in candidates if c in by_upper]
        if len(found) == 1 or (found and not _BARE_CN.fullmatch(s)):
            return found[0]
        if len(found) > 1:
            raise NotFoundError(f"symbol {shown} is ambiguous: use one of {', '.join(found)}")
        if exists is not None:
            for candidate in dict.fromkeys([s, *candidates]):
                if exists(candidate):
                    return candidate
    near = nearest_symbols(s, symbols)
    if near:
        raise NotFoundError(f"unknown symbol {shown}: did you mean {', '.join(near)}? ({hint})")
    some = sorted(symbols)[:5]
    more = f", ... ({len(symbols)} in all)" if len(symbols) > len(some) else ""
    known_text = f"known: {', '.join(some)}{more}" if some else "no symbols are known yet"
    raise NotFoundError(f"unknown symbol {shown}: {known_text} ({hint})")
