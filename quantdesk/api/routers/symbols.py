"""``GET /api/symbols``: the covered stocks and their metadata."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from quantdesk.storage.base import Store

router = APIRouter(tags=["market"])


@router.get("/api/symbols")
def symbols(request: Request) -> list[dict[str, Any]]:
    """Every symbol in ``stock_metadata`` (name, market, sector, base price, volatility)."""
    store: Store = request.app.state.store
    return [asdict(m) for m in store.list_metadata()]
