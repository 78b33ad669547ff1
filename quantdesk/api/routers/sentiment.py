"""``GET /api/tweets``: stored scored tweets, for the dashboard's sentiment panel.

Any valid token (like ``/api/signals``). Query parameters:

==========  =================================================================
``symbol``  only tweets naming this symbol (e.g. ``AAPL``, ``600036.SH``);
            omitted: every stored tweet, including those naming no stock
``start``   ISO 8601 or epoch ms, inclusive
``end``     ISO 8601 or epoch ms, exclusive; page back with ``end`` = the
            first row's ``time``
``limit``   1..5000, default 200: the newest ``limit`` tweets of
            ``[start, end)``, returned oldest first
==========  =================================================================

One row per tweet::

    {"id": "1859...", "version_id": "1859...", "time": "2026-05-06T01:30:00.123Z",
     "time_ms": 1778031000123, "author_id": "...", "text": "$AAPL to the moon 🚀",
     "symbols": ["AAPL"], "score": 0.83, "label": "positive", "source": "mocker"}

``id`` is the tweet's stable id (the first of its edit history; an edit
replaces the row), ``version_id`` the id of the stored version, ``time`` its
``created_at`` in UTC, ``score`` in [-1, 1] (positive = bullish), ``label``
``positive``/``negative``/``neutral``, ``source`` where it came from
(``mocker``, ``file``, ``twitter``). ``text`` is the tweet exactly as
received: untrusted data inside JSON, to be escaped by whatever displays it.
Bad parameters get a 4xx with one line ``{"detail": "..."}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from quantdesk.api.hub import tweet_data
from quantdesk.api.routers.stream import End, Limit, Start, time_range
from quantdesk.api.routers.symbols import resolve
from quantdesk.api.security import current_user
from quantdesk.storage.base import Store

router = APIRouter(tags=["sentiment"], dependencies=[Depends(current_user)])


@router.get("/api/tweets")
def tweets(
    request: Request,
    symbol: Annotated[
        str | None, Query(max_length=32, description="only tweets naming it; omit for all")
    ] = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 200,
) -> list[dict[str, Any]]:
    """Stored scored tweets, the newest ``limit`` in ``[start, end)``, oldest first."""
    store: Store = request.app.state.store
    chosen = resolve(request, symbol) if symbol else None
    s, e = time_range(start, end)
    return [tweet_data(t) for t in store.query_tweets(chosen, s, e, limit)]
