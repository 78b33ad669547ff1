"""The web dashboard, served by the API server itself (``/`` and ``/static/...``).

Plain ES modules in ``static/`` with no build step, talking to the same REST
and WebSocket API as any other client; the one library, lightweight-charts,
is installed into ``static/vendor/`` by the set-up command
(:mod:`quantdesk.web.assets`), so the page works with no internet.

Pages (hash routes): ``#/login``; ``#/market`` (candlesticks and volume, an
interval switcher, symbol search, live bars over ``/ws/market``, signal
markers, and the factor panel: OBI and microprice with the rule thresholds,
editable by admins); ``#/sentiment`` (rolling sentiment over price, recent
tweets); ``#/pipeline`` (rates, lag, rejects); ``#/logs`` (admin: live tail
and search). Jobs, orders and positions, and models have their places in the
navigation for the releases that add them.

Untrusted text (tweets, symbols, log lines, rule ids) only ever reaches the
page through ``textContent`` (``static/js/dom.js``), and the index is served
with a Content-Security-Policy that allows scripts from this server only, so
an injected ``<script>`` or ``onerror=`` is shown as text and never runs.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

#: Scripts and connections only to this server; the chart library adds a small
#: inline <style> for its attribution logo, hence 'unsafe-inline' for styles only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` (index) and ``/static`` (modules, styles, vendor)."""

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=HEADERS)

    @app.get("/dashboard", include_in_schema=False)
    def dashboard() -> RedirectResponse:
        return RedirectResponse("/")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
