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
``T``    GET /api/v2/ai/predictions, .../models/{m}   404 until models exist
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
and client address (``QUANTDESK_LOGIN_ATTEMPTS_PER_MINUTE``, default 5; then
429 with Retry-After). CORS origins: ``QUANTDESK_CORS_ORIGINS``
(comma-separated; default none). Each change writes an ``audit`` line on the
``quantdesk.audit`` logger.

WebSocket channels: ``/ws/enhanced`` (everything), ``/ws/stream-metrics``,
``/ws/pipeline-status`` (each once a second), ``/ws/ai-predictions`` and
``/ws/risk-alerts`` (open, nothing published yet), ``/ws/market`` and
``/ws/logs`` (admin only). Authenticate with ``?token=<jwt>`` or a first
message ``{"token": "<jwt>"}`` within 10 s; otherwise the server closes with
code 4401 (4403: guest on /ws/logs). Every server message is
``{"type": T, "data": {...}}``; T is ``welcome``, ``bar`` (open bars with
``final: false`` about once a second of event time, then ``final: true``),
``factor``, ``signal``, ``dead_letter``, ``stream_metrics``,
``pipeline_status``, ``log``, ``subscribed``, ``pong`` or ``error``. On
``/ws/market`` send ``{"subscribe": {"symbols": ["600036.SH"], "intervals":
["1m"]}}`` (symbols ``["*"]`` = all; no intervals = all; subscriptions add
up; ``{"unsubscribe": true}`` clears) and receive the bars, factors and
signals of those. ``{"ping": x}`` gets ``{"type": "pong", "data": x}``. Each
client has a queue of ``QUANTDESK_WS_QUEUE_SIZE`` (1,000) messages; a slow
client loses the oldest ones (counted in ``quantdesk_ws_dropped_messages``)
and never slows the pipeline.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import quantdesk
from quantdesk.api.errors import install_error_handlers
from quantdesk.api.hub import Hub
from quantdesk.api.logbook import install as install_logbook
from quantdesk.api.metrics import Metrics, MetricsMiddleware, live_figures
from quantdesk.api.routers import (
    auth,
    backtests,
    health,
    klines,
    logs,
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
from quantdesk.api.trading import TradingService, trading_forwarder
from quantdesk.auth import LoginLimiter, TokenService, ensure_default_users, make_hasher
from quantdesk.config import Settings
from quantdesk.storage.base import Store
from quantdesk.web.dashboard import mount_dashboard


def create_app(
    store: Store,
    settings: Settings,
    runtime: Any | None = None,
    *,
    echo: Any = print,
) -> FastAPI:
    """Build the app over an open store; ``runtime`` (optional) is the live pipeline.

    Migrates the store (idempotent) and creates the default users when missing.
    """
    app = FastAPI(
        title="quantdesk",
        version=quantdesk.__version__,
        description="Real-time quantitative stock platform: bars, factors, signals.",
    )
    state = app.state
    state.store = store
    state.settings = settings
    state.runtime = runtime
    state.logbook = install_logbook()  # first: start-up warnings are searchable too
    store.migrate()
    state.hasher = make_hasher(settings)
    ensure_default_users(store, settings, state.hasher, echo)
    state.tokens = TokenService(settings.jwt_secret.get_secret_value(), settings.jwt_expire_minutes)
    state.login_limiter = LoginLimiter(settings.login_attempts_per_minute)
    engine = getattr(getattr(runtime, "processor", None), "signals", None)
    state.rules = RuleBook(store, settings.signal_rules, engine)
    state.hub = hub = Hub(settings.ws_queue_size)
    hub.metrics_source = lambda: live_figures(state)
    if runtime is not None:
        hub.status_source = runtime.describe
        listeners = getattr(runtime, "output_listeners", None)
        if listeners is not None:
            listeners.append(hub.publish_output)
    desk = getattr(runtime, "trading", None)
    if desk is not None:  # orders, fills and risk alerts of the paper account
        desk.add_listener(trading_forwarder(hub))
    state.metrics = Metrics(state)
    install_error_handlers(app)
    state.trading = TradingService(store, settings, desk)
    routers = (health, system, klines, symbols, auth, stocks, stream, rules, ws, sentiment, logs)
    for module in routers:
        app.include_router(module.router)
    app.include_router(trading.router)
    app.include_router(risk.router)
    app.include_router(backtests.router)
    app.include_router(system.secured)
    mount_dashboard(app)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    origins = settings.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app
