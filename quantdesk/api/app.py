"""The FastAPI application (``quantdesk serve`` and part of ``quantdesk run``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import quantdesk
from quantdesk.api.errors import install_error_handlers
from quantdesk.api.routers import health, klines, symbols
from quantdesk.config import Settings
from quantdesk.storage.base import Store


def create_app(store: Store, settings: Settings, runtime: Any | None = None) -> FastAPI:
    """Build the app over an open store; ``runtime`` (optional) reports live status."""
    app = FastAPI(
        title="quantdesk",
        version=quantdesk.__version__,
        description="Real-time quantitative stock platform: bars, factors, signals.",
    )
    app.state.store = store
    app.state.settings = settings
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(klines.router)
    app.include_router(symbols.router)
    return app
