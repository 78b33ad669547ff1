"""The FastAPI application (``quantdesk serve`` and part of ``quantdesk run``).

Endpoints (OpenAPI at ``/docs``; ``A`` = admin token, ``T`` = any token,
``-`` = public):

=======  ===========================================  ==============================
auth     method and path                              what
=======  ===========================================  ==============================
``-``    GET /                                        the web dashboard (quantdesk.web)
``-``    GET /health                                  liveness + runtime figures
``-``    GET /metrics                                 Prometheus text format
``-``    GET /api/klines?symbol&interval&start&end    stored bars (seed D's chart)
``-``    GET /api/symbols                             covered stocks
``-``    POST /api/auth/token (form)                  log in -> bearer token
``T``    GET /api/auth/me                             who am I
``T``    GET /api/v2/system/health|status|metrics     checks, status, live counters
``T``    GET /api/v2/stocks/quotes?symbols=a,b        latest prices (bare codes ok)
``T``    GET /api/v2/stocks/{symbol}/historical       bars over period 1d..1y
``T``    GET /api/v2/ai/predictions[/history]         stored predictions (default ensemble)
``T``    GET /api/v2/ai/models[/{m}/status]           versions, metrics, A/B figures
``A``    POST /api/v2/ai/models/{m}/promote|predict   promote / roll back; predict now
``T``    GET /api/factors?symbol&name&interval...     stored factor values
``T``    GET /api/signals?symbol&rule_id...           stored signals
``T``    GET /api/rejects                             rejected messages by reason
``T``    GET /api/tweets?symbol&start&end&limit       stored scored tweets
``A``    GET /api/logs?q&level&limit                  search the server's recent logs
``T``    GET /api/signal-rules[/{id}]                 live signal rules
``A``    POST /api/signal-rules                       add a rule (201; 409 if id exists)
``A``    PUT/DELETE /api/signal-rules/{id}            replace (200) / remove (204)
=======  ===========================================  ==============================

Lists: ``limit`` 1..5000 (default 200) returns the newest rows of
``[start, end)`` oldest first; page back with ``end`` = the first row's time.
Errors are 4xx with one line ``{"detail": "..."}``.

Auth model. Roles ``admin`` (read + change) and ``guest`` (read). Seed B's
users admin/guest/test are created on first start (passwords from
``QUANTDESK_{ADMIN,GUEST,TEST}_PASSWORD`` or generated and printed once;
argon2id hashes in ``users``). ``POST /api/auth/token`` takes the OAuth2
password form and returns ``{"access_token", "token_type": "bearer"}``, an
HS256 JWT (``QUANTDESK_JWT_SECRET``; random per process if unset, with a
warning) valid ``QUANTDESK_JWT_EXPIRE_MINUTES``. Reads need any valid token,
except the public health, metrics, docs and seed D's market-data endpoints
(``/api/klines``, ``/api/symbols``: the public candlestick feed); state
changes need admin: 401 without/with a bad token, 403 for a guest. The role
is taken from the token (stateless). Failed logins are limited per username
and client address (``QUANTDESK_LOGIN_ATTEMPTS_PER_MINUTE``, default 5) and
per username over all addresses (``..._PER_USER_PER_MINUTE``, 20), checked
and counted in one step; then 429 with Retry-After. The client address is
the socket's, or ``X-Forwarded-For`` from a proxy named in
``QUANTDESK_FORWARDED_ALLOW_IPS`` only. Request bodies over
``QUANTDESK_MAX_BODY_BYTES`` (1 MiB) get 413 before anything reads them
(:mod:`quantdesk.api.limits`). ``/docs`` and ``/redoc`` are served offline
(:mod:`quantdesk.web.docs`). Symbol parameters are resolved by
:func:`quantdesk.api.routers.symbols.resolve` (404 naming the nearest).
CORS origins: ``QUANTDESK_CORS_ORIGINS`` (comma-separated; default none). Each
change writes an ``audit`` line on the
``quantdesk.audit`` logger.

WebSocket channels: ``/ws/enhanced`` (everything), ``/ws/stream-metrics``,
``/ws/pipeline-status`` (each once a second), ``/ws/ai-predictions`` and
``/ws/risk-alerts`` (predictions and risk alerts as their producers publish
them), ``/ws/market`` and ``/ws/logs`` (admin only). Authenticate with a
first message ``{"token": "<jwt>"}`` within 10 s (or an ``Authorization:
Bearer`` header); a token in the URL (``?token=``) is refused, since URLs are
logged. Otherwise, and when the user no longer exists, the server closes
with code 4401 (4403: guest on /ws/logs); an open socket closes with 4401
when its token expires (send a fresh ``{"token": ...}`` before that to stay).
Every server message is ``{"type": T, "data": {...}}``; T is ``welcome``,
``bar`` (open bars with ``final: false`` about once a second of event time,
then ``final: true``), ``factor``, ``signal``, ``tweet``, ``dead_letter``,
``stream_metrics``, ``pipeline_status``, ``prediction``, ``risk_alert``,
``order``, ``fill``, ``job``, ``log``, ``subscribed``, ``pong`` or ``error``.
On ``/ws/market`` send ``{"subscribe": {"symbols": ["600036.SH"],
"intervals": ["1m"]}}`` (symbols ``["*"]`` = all; no intervals = all;
subscriptions add up to 200 symbols of at most 32 characters;
``{"unsubscribe": true}`` clears) and receive the bars, factors, signals and
tweets of those. ``{"ping": x}`` gets ``{"type": "pong", "data": x}``. A
client message is at most ``QUANTDESK_WS_MAX_FRAME_BYTES`` (64 KiB).

Live data comes from the bus only (:mod:`quantdesk.api.hub`): the hub reads
the output topics, whoever produced them (this process's runtime, or Kafka
workers). A client that reads slowly falls behind its channel's feed by at
most ``QUANTDESK_WS_QUEUE_SIZE`` messages and ``QUANTDESK_WS_QUEUE_BYTES``
bytes; beyond that it loses the oldest (counted in
``quantdesk_ws_dropped_messages``), and while it is behind it gets the newest
state of each open bar and factor rather than every stale one. It never
slows the pipeline, other clients or HTTP.

The app holds no processing state, so one platform can be served by many
API processes (``quantdesk serve --workers N``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import quantdesk
from quantdesk.api import fastpath
from quantdesk.api.context import ApiContext
from quantdesk.api.errors import install_error_handlers
from quantdesk.api.gate import ApiGate
from quantdesk.api.hub import Hub
from quantdesk.api.limits import BodyLimitMiddleware
from quantdesk.api.logbook import install as install_logbook
from quantdesk.api.metrics import Metrics, MetricsMiddleware, live_figures
from quantdesk.api.ratelimit import RequestLimiter
from quantdesk.api.routers import (
    audit,
    auth,
    backtests,
    health,
    jobs,
    keys,
    klines,
    logs,
    models,
    risk,
    rules,
    sentiment,
    stocks,
    stream,
    symbols,
    system,
    trading,
    ws,
)
from quantdesk.api.rules import RuleBook
from quantdesk.api.trading import TradingService
from quantdesk.auth import LoginLimiter, TokenService, ensure_default_users, make_hasher
from quantdesk.auth.apikeys import ApiKeys
from quantdesk.storage.apikeys import ApiKeyRepository
from quantdesk.storage.audit import audit_log_of
from quantdesk.web.dashboard import mount_dashboard
from quantdesk.web.docs import mount_docs


def create_app(context: ApiContext, *, echo: Callable[[str], None] = print) -> FastAPI:
    """Build the app over an open store (see :class:`~quantdesk.api.context.ApiContext`).

    Migrates the store (idempotent) and creates the default users when missing.
    The hub starts reading the bus when the server starts (lifespan) or when
    the first WebSocket client comes, whichever is first.
    """
    store, settings, runtime = context.store, context.settings, context.runtime

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.start()
        try:
            yield
        finally:
            hub.stop()

    app = FastAPI(
        title="quantdesk",
        version=quantdesk.__version__,
        description="Real-time quantitative stock platform: bars, factors, signals.",
        lifespan=lifespan,
        docs_url=None,  # served offline by quantdesk.web.docs (no CDN)
        redoc_url=None,
    )
    state = app.state
    state.store = store
    state.settings = settings
    state.runtime = runtime
    state.bus = context.bus
    state.logbook = install_logbook()  # first: start-up warnings are searchable too
    store.migrate()
    state.hasher = make_hasher(settings)
    ensure_default_users(store, settings, state.hasher, echo)
    state.tokens = TokenService(settings.jwt_secret.get_secret_value(), settings.jwt_expire_minutes)
    state.login_limiter = LoginLimiter(
        settings.login_attempts_per_minute, settings.login_attempts_per_user_per_minute
    )
    # API keys and the audit log: SQLAlchemy Core tables on the store's database
    sql = store.engine
    state.audit = audit_log_of(sql)
    key_repo = ApiKeyRepository(sql)
    key_repo.create_tables()
    state.apikeys = ApiKeys(key_repo)
    state.limiter = RequestLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    state.rules = RuleBook(store, settings.signal_rules, context.bus, audit_log=state.audit)
    state.hub = hub = Hub(settings.ws_queue_size, settings.ws_queue_bytes)
    hub.connect(context.bus)
    hub.metrics_source = lambda: live_figures(state)
    if runtime is not None:
        hub.status_source = runtime.describe
    state.metrics = Metrics(state)
    install_error_handlers(app)
    # the paper account: the runtime's desk when it trades in this process, else the store
    # (reads) and the bus (changes travel to the process that trades)
    state.trading = TradingService(
        store, settings, getattr(runtime, "trading", None), context.bus, audit_log=state.audit
    )
    routers = (
        health,
        system,
        klines,
        symbols,
        auth,
        stocks,
        models,
        stream,
        rules,
        ws,
        sentiment,
        logs,
        keys,
        audit,
    )
    for module in routers:
        app.include_router(module.router)
    app.include_router(trading.router)
    app.include_router(risk.router)
    app.include_router(backtests.router)
    app.include_router(jobs.router)
    app.include_router(system.secured)
    mount_dashboard(app)
    route = next(r for r in klines.router.routes if getattr(r, "path", None) == fastpath.PATH)
    app.add_middleware(fastpath.NewestBarsFastPath, state=state, route=route)
    mount_docs(app)
    # who is calling and the request limit, inside the metrics (401s and 429s are counted)
    app.add_middleware(ApiGate, keys=state.apikeys, tokens=state.tokens, limiter=state.limiter)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    origins = settings.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )
    # outermost: an oversized body is refused before anything reads it
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    return app
