"""``/api/v2/backtests``: stored backtest runs (``quantdesk backtest``, ``quantdesk.backtest()``).

The list gives each run's strategy, range, universe size and headline figures;
one run adds its settings, every statistic (the strategy's and equal-weight
buy-and-hold's), the equity curve beside buy-and-hold, the drawdown from the
running peak of each, and the trade list (``fills_limit`` newest fills).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Path, Query, Request

from quantdesk.api.routers.klines import MAX_LIMIT
from quantdesk.api.routers.trading import service
from quantdesk.api.security import current_user
from quantdesk.api.trading import fill_json
from quantdesk.storage.trading import BacktestRunRow

router = APIRouter(tags=["backtests"], dependencies=[Depends(current_user)])

RunId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
_HEADLINE = ("total_return", "annual_return", "sharpe", "max_drawdown", "trades", "fees")


def _summary(r: BacktestRunRow) -> dict[str, Any]:
    stats = r.stats
    bh = stats.get("buy_and_hold") or {}
    return {
        "id": r.id,
        "created": r.created,
        "strategy": r.strategy,
        "market": r.market,
        "interval": r.interval,
        "start": r.start,
        "end": r.end,
        "symbols": len(r.symbols),
        "cash": float(r.cash),
        "stats": {k: stats.get(k) for k in _HEADLINE},
        "buy_and_hold": {k: bh.get(k) for k in _HEADLINE if k in bh},
    }


def _drawdown(values: list[float]) -> list[float]:
    if not values:
        return []
    v = np.asarray(values, dtype=float)
    peak = np.maximum.accumulate(np.where(np.isnan(v), -np.inf, v))
    with np.errstate(invalid="ignore", divide="ignore"):
        dd = np.where(peak > 0, v / peak - 1.0, 0.0)
    return [round(float(x), 8) if x == x else 0.0 for x in dd]


def _clean(values: list[Any]) -> list[float | None]:
    return [float(x) if x is not None and x == x else None for x in values]


@router.get("/api/v2/backtests")
def list_runs(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000, description="newest N")] = 100,
) -> list[dict[str, Any]]:
    """Stored runs, newest first."""
    return [_summary(r) for r in service(request).backtests.list_runs(limit)]


@router.get("/api/v2/backtests/{run_id}")
def get_run(
    request: Request,
    run_id: RunId,
    fills_limit: Annotated[int, Query(ge=0, le=MAX_LIMIT, description="newest N fills")] = 1000,
) -> dict[str, Any]:
    """One run: settings, statistics, equity and buy-and-hold with drawdowns, trades."""
    store = service(request).backtests
    r = store.get_run(run_id)
    eq = r.equity or {}
    times = [int(t) for t in eq.get("time", [])]
    equity = _clean(list(eq.get("equity", [])))
    bench = _clean(list(eq.get("buy_and_hold", [])))
    fills = store.run_fills(run_id) if fills_limit else []
    out = _summary(r)
    out.update(
        {
            "symbols_list": r.symbols,
            "settings": r.settings,
            "stats": r.stats,
            "curve": {
                "time": times,
                "equity": equity,
                "buy_and_hold": bench,
                "drawdown": _drawdown([x if x is not None else np.nan for x in equity]),
                "buy_and_hold_drawdown": _drawdown([x if x is not None else np.nan for x in bench]),
            },
            "fills_total": len(fills),
            "fills": [fill_json(f) for f in fills[-fills_limit:]] if fills_limit else [],
        }
    )
    return out
