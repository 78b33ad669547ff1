"""``/api/v2/ai``: predictions, model versions, status (A/B), promotion.

=======  ==========================================  ===========================================
auth     method and path                             what
=======  ==========================================  ===========================================
``T``    GET /api/v2/ai/predictions?symbols&model    newest stored prediction per stock of the
                                                     model's served version (default ``ensemble``:
                                                     see :mod:`quantdesk.models.serving`)
``T``    GET /api/v2/ai/predictions/history          one stock's predictions over time, with
         ?symbol&model&limit                         their realised outcome (the chart markers)
``T``    GET /api/v2/ai/models                       every model, its versions and aliases, the
                                                     newest evaluation per control (leaks)
``T``    GET /api/v2/ai/models/{name}/status         served version, trained range, holdout
                                                     metrics beside the baselines, A/B figures
``A``    POST /api/v2/ai/models/{name}/promote       ``{"version": N, "alias": "champion"}``
                                                     promotes; ``{"rollback": true}`` rolls back
``A``    POST /api/v2/ai/models/{name}/predict       predict now (champion and challenger),
                                                     store, publish on ``/ws/ai-predictions``
=======  ==========================================  ===========================================

Bad input is a 4xx with one line: an unknown model or version 404, a bad alias or
body 422/400, a model that cannot serve (corrupt or missing artifact, no rows to
predict from) 422. The running platform serves a promotion from the next request on
(hot reload, :class:`quantdesk.models.serving.ModelServer`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from quantdesk.api.auditing import audit_api
from quantdesk.api.routers.symbols import resolve
from quantdesk.api.security import Admin, current_user
from quantdesk.errors import DataError, ModelError
from quantdesk.models.serving import (
    DEFAULT_MODEL,
    ModelServer,
    checked_alias,
    resolve_model_name,
    version_json,
)
from quantdesk.storage.models import (
    EvaluationRepository,
    OutcomeRepository,
    PredictionRepository,
    PredictionRow,
)

router = APIRouter(tags=["ai"], dependencies=[Depends(current_user)])
log = logging.getLogger("quantdesk.api.models")

ModelName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
_lock = threading.Lock()
T = TypeVar("T")


def server(request: Request) -> ModelServer:
    """The app's model server (one per app: its predictors hot-reload promotions)."""
    state = request.app.state
    srv: ModelServer | None = getattr(state, "models", None)
    if srv is None:
        with _lock:
            srv = getattr(state, "models", None)
            if srv is None:
                from quantdesk.models.registry import ModelRegistry

                settings = state.settings
                registry = ModelRegistry(state.store.engine, settings.resolved_model_dir)
                srv = state.models = ModelServer(
                    state.store, registry, bus=state.bus, market=settings.market
                )
    return srv


def _known(request: Request, name: str) -> str:
    """``name`` resolved (``ensemble``) and checked to be a registered model: 404 else."""
    from quantdesk.models.base import MODELS

    resolved = resolve_model_name(server(request).registry, name, request.app.state.settings)
    if resolved not in MODELS:
        raise HTTPException(
            404, f"unknown model {resolved[:64]!r}; known: {', '.join(MODELS.names())}"
        )
    return resolved


def _model_errors(fn: Callable[[], T]) -> T:
    """A model that cannot serve is the request's problem to know about: 422, one line."""
    try:
        return fn()
    except ModelError as exc:
        raise HTTPException(422, str(exc)) from None


def _row_json(r: PredictionRow) -> dict[str, Any]:
    return {
        "symbol": r.symbol,
        "target_day": r.target_day.isoformat(),
        "model": r.model,
        "version": r.version,
        "made_at": r.made_at,
        "predicted_open": r.predicted_open,
        "predicted_close": r.predicted_close,
        "predicted_return": r.predicted_return,
        "reference": r.reference,
        "stale": r.stale,
    }


def _codes(request: Request, symbols: str | None) -> list[str] | None:
    if symbols is None:
        return None
    codes = [c.strip() for c in symbols.split(",") if c.strip()]
    if len(codes) > 200:
        raise DataError(f"symbols: at most 200 codes per request (got {len(codes)})")
    return [resolve(request, c) for c in codes] or None


@router.get("/api/v2/ai/predictions")
def predictions(
    request: Request,
    symbols: Annotated[str | None, Query(max_length=4000, description="comma-separated")] = None,
    model: Annotated[str, Query(min_length=1, max_length=64)] = DEFAULT_MODEL,
) -> dict[str, Any]:
    """Per stock the newest stored prediction of the model's served version (champion,
    else newest); where that version has none yet (just promoted), the newest of any."""
    name = _known(request, model)
    srv = server(request)
    version = _model_errors(lambda: srv.predictor(name, "champion").wanted_version())
    if version is None:
        raise HTTPException(404, f"model {name} has no version: train it first")
    codes = _codes(request, symbols)
    repo = PredictionRepository(srv.registry.engine)
    rows = repo.latest(model=name, symbols=codes, version=version) or repo.latest(
        model=name, symbols=codes
    )
    return {
        "model": name,
        "requested": model,
        "version": version,
        "predictions": [_row_json(r) for r in rows],
    }


@router.get("/api/v2/ai/predictions/history")
def prediction_history(
    request: Request,
    symbol: Annotated[str, Query(min_length=1, max_length=32)],
    model: Annotated[str, Query(min_length=1, max_length=64)] = DEFAULT_MODEL,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """One stock's predictions (newest ``limit`` target days, oldest first) with the
    realised return where the target day's bars arrived."""
    name = _known(request, model)
    sym = resolve(request, symbol)
    srv = server(request)
    rows = PredictionRepository(srv.registry.engine).history(name, sym, limit=limit)
    realised = OutcomeRepository(srv.registry.engine).of_symbol(name, sym)
    out = []
    for r in rows:
        doc = _row_json(r)
        got = realised.get((r.target_day, r.version))
        doc["actual_return"] = None if got is None else got[0]
        doc["hit"] = None if got is None else got[1]
        out.append(doc)
    return {"model": name, "symbol": sym, "predictions": out}


@router.get("/api/v2/ai/models")
def models(request: Request) -> dict[str, Any]:
    """Every registered model with its versions (newest last) and aliases, and the newest
    stored evaluation report per control ("" = stored bars) with its probable leaks."""
    from quantdesk.models.base import BASELINES, MODELS, model_class

    srv = server(request)
    versions = srv.registry.versions.list_versions()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for v in versions:
        by_name.setdefault(v.name, []).append(version_json(v))
    out = []
    for name in MODELS.names():
        mine = by_name.get(name, [])
        out.append(
            {
                "name": name,
                "kind": model_class(name).kind,
                "baseline": name in BASELINES,
                "champion": srv.registry.versions.alias(name, "champion") if mine else None,
                "challenger": srv.registry.versions.alias(name, "challenger") if mine else None,
                "versions": mine,
            }
        )
    evaluations = EvaluationRepository(srv.registry.engine).latest()
    for doc in evaluations.values():
        doc["probable_leaks"] = [
            n
            for n, m in (doc.get("models") or {}).items()
            if n not in BASELINES and isinstance(m, dict) and m.get("outside_50")
        ] if doc.get("control") == "random" else []  # fmt: skip
    return {
        "default": resolve_model_name(srv.registry, DEFAULT_MODEL, request.app.state.settings),
        "models": out,
        "evaluations": evaluations,
    }


@router.get("/api/v2/ai/models/{name}/status")
def model_status(request: Request, name: ModelName) -> dict[str, Any]:
    """The served version, its trained range and holdout metrics beside the baselines,
    every version, and the A/B figures (realised direction accuracy of champion and
    challenger as outcomes arrive)."""
    resolved = _known(request, name)
    srv = server(request)
    doc = srv.status(resolved)
    served = next(v for v in doc["versions"] if v["version"] == doc["version"])
    doc["trained_range"] = served["trained_range"]
    doc["dataset"] = served["dataset"]
    doc["metrics"] = served["metrics"]
    doc["published"] = srv.published
    return doc


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, ge=1, description="the version to point the alias at")
    alias: str = Field("champion", max_length=32, description="champion or challenger")
    rollback: bool = Field(False, description="point the alias back at its previous version")


@router.post("/api/v2/ai/models/{name}/promote")
def promote(request: Request, name: ModelName, body: PromoteBody, user: Admin) -> dict[str, Any]:
    """Point ``alias`` at ``version`` (checked to load: a corrupt artifact is refused), or
    roll it back. The platform serves the new version from the next request on."""
    resolved = _known(request, name)
    alias = checked_alias(body.alias)
    registry = server(request).registry
    if body.rollback == (body.version is not None):
        raise DataError("give either version (promote) or rollback: true, not both or neither")
    if body.rollback:
        version = registry.rollback(resolved, alias)
        previous = None
        action = "model.rollback"
    else:
        assert body.version is not None
        version = body.version
        previous = _model_errors(lambda: registry.promote(resolved, version, alias))
        action = "model.promote"
    server(request).forget(resolved)  # served from the next request on
    detail = {"model": resolved, "alias": alias, "version": version, "previous": previous}
    audit_api(request, user, action, detail)
    return {"name": resolved, "alias": alias, "version": version, "previous": previous}


class PredictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: list[Annotated[str, Field(min_length=1, max_length=32)]] | None = Field(
        None, max_length=200, description="default every stored stock"
    )
    ab: bool = Field(True, description="the challenger predicts too")


@router.post("/api/v2/ai/models/{name}/predict")
def predict_now(
    request: Request, name: ModelName, body: PredictBody, user: Admin
) -> dict[str, Any]:
    """Score stored predictions whose outcome arrived, then predict the next trading day
    with the champion (and the challenger): stored, and published on the bus."""
    resolved = _known(request, name)
    srv = server(request)
    codes = [resolve(request, s) for s in body.symbols] if body.symbols else None
    scored = _model_errors(lambda: srv.track_outcomes(resolved))
    made = _model_errors(lambda: srv.predict(resolved, symbols=codes, ab=body.ab))
    champion = made["champion"]
    audit_api(
        request,
        user,
        "model.predict",
        {"model": resolved, "version": champion[0].version if champion else None},
        log_line=False,
    )
    return {
        "model": resolved,
        "outcomes_scored": scored,
        **{alias: [_row_json(r) for r in rows] for alias, rows in made.items()},
        "version": champion[0].version if champion else None,
        "challenger_error": srv.challenger_error,
    }
