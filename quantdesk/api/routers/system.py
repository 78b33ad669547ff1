"""Seed C's system endpoints and the Prometheus ``/metrics``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from quantdesk.api.metrics import live_figures
from quantdesk.api.security import current_user
from quantdesk.storage.base import Store

router = APIRouter(tags=["system"])
secured = APIRouter(tags=["system"], dependencies=[Depends(current_user)])


@router.get("/metrics", response_class=Response)
def prometheus(request: Request) -> Response:
    """Prometheus text format: ingest, bars, rejects, request latency, WebSocket clients/drops."""
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@secured.get("/api/v2/system/health")
def system_health(request: Request) -> dict[str, Any]:
    """Component checks: the database (a real query, with its latency) and the live runtime."""
    store: Store = request.app.state.store
    runtime = request.app.state.runtime
    checks: dict[str, Any] = {}
    t0 = time.perf_counter()
    try:
        store.get_market_status("cn")
        checks["database"] = {
            "status": "ok",
            "latency_ms": round((time.perf_counter() - t0) * 1000, 3),
        }
    except Exception as exc:
        checks["database"] = {"status": "error", "error": str(exc).splitlines()[0][:200]}
    if runtime is None:
        checks["runtime"] = {"status": "absent", "note": "API only (quantdesk serve)"}
    else:
        checks["runtime"] = {"status": "stopping" if getattr(runtime, "stopping", False) else "ok"}
    ok = all(c["status"] in ("ok", "absent") for c in checks.values())
    return {"status": "ok" if ok else "degraded", "version": request.app.version, "checks": checks}


@secured.get("/api/v2/system/status")
def system_status(request: Request) -> dict[str, Any]:
    """What the platform is doing: runtime figures, market status, rules, clients."""
    state = request.app.state
    runtime = state.runtime
    store: Store = state.store
    body: dict[str, Any] = {
        "version": request.app.version,
        "mode": "api-only" if runtime is None else "embedded",
        "runtime": None if runtime is None else runtime.describe(),
        "signal_rules": len(state.rules.list()),
        "ws_clients": state.hub.counts(),
    }
    market = getattr(runtime, "market", None) or state.settings.market
    status = store.get_market_status(market)
    body["market"] = (
        None
        if status is None
        else {
            "market": status.market,
            "status": status.status,
            "phase": status.phase,
            "time": status.time,
        }
    )
    return body


@secured.get("/api/v2/system/metrics")
def system_metrics(request: Request) -> dict[str, Any]:
    """The live counters of ``/metrics`` as JSON."""
    return live_figures(request.app.state)
