"""``GET /api/symbols`` (the covered stocks) and the symbol resolution every endpoint uses.

:func:`resolve` turns a ``symbol`` parameter into the stored symbol with
:func:`quantdesk.domain.symbols.resolve_symbol` (case-insensitive, bare
A-share codes, ``600036.SS``, ``sh600036``), or answers 404 with the nearest
known names. Known symbols are those of ``stock_metadata`` (cached on the
app, refreshed when a name is not in the cache) and any symbol with stored
bars (an imported file needs no metadata). The cached check is one set
lookup, so ``/api/klines`` pays nothing for it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from quantdesk.domain.symbols import has_bars, resolve_symbol
from quantdesk.storage.base import Store

router = APIRouter(tags=["market"])


@router.get("/api/symbols")
def symbols(request: Request) -> list[dict[str, Any]]:
    """Every symbol in ``stock_metadata`` (name, market, sector, base price, volatility)."""
    store: Store = request.app.state.store
    return [asdict(m) for m in store.list_metadata()]


def known_symbols(request: Request, *, refresh: bool = False) -> set[str]:
    """The symbols of ``stock_metadata`` (cached on the app)."""
    state = request.app.state
    known: set[str] | None = getattr(state, "symbols", None)
    if known is None or refresh:
        store: Store = state.store
        known = state.symbols = {m.symbol for m in store.list_metadata()}
    return known


def resolve(request: Request, text: str) -> str:
    """The stored symbol ``text`` names; :class:`~quantdesk.errors.NotFoundError` (404) else."""
    if text in known_symbols(request):
        return text
    store: Store = request.app.state.store
    return resolve_symbol(
        text, known_symbols(request, refresh=True), exists=lambda s: has_bars(store, s)
    )
