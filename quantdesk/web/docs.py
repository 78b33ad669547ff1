"""The API docs, offline: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) from local files.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and ReDoc its
fonts from Google), so with no internet ``/docs`` was a blank page.
quantdesk promises no internet at run time: the two pages here are FastAPI's
own HTML (:func:`fastapi.openapi.docs.get_swagger_ui_html`,
:func:`~fastapi.openapi.docs.get_redoc_html`) pointed at the pinned,
hash-checked copies under ``/static/vendor/`` that the set-up command
installs (:mod:`quantdesk.web.assets`: ``swagger-ui-dist``, ``redoc``),
without Google fonts. If the files are missing (the set-up step was
skipped), the page says how to install them instead of staying blank.

Both pages are served with a Content-Security-Policy that lets them load
from this server only (ReDoc's sidebar otherwise fetches its logo from
``cdn.redoc.ly``): nothing leaves the machine, and a page that tried would
show the gap rather than hang on the network. Their HTML has one inline
script (FastAPI's), hence ``'unsafe-inline'`` for scripts on these two pages
only; ReDoc's search runs in a ``blob:`` worker.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse, Response

from quantdesk.web.assets import ASSETS, VENDOR_DIR, missing

VENDOR_URL = "/static/vendor"
SWAGGER_JS = f"{VENDOR_URL}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR_URL}/swagger-ui.css"
FAVICON = f"{VENDOR_URL}/swagger-favicon-32x32.png"
REDOC_JS = f"{VENDOR_URL}/redoc.standalone.js"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _local_only(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _not_installed(package: str) -> Response | None:
    absent = [a for a in missing(target=VENDOR_DIR) if a.package == package]
    if not absent:
        return None
    return JSONResponse(
        {
            "detail": f"{package} is not installed under {VENDOR_DIR}: run "
            "`python -m quantdesk.web.assets` (or `make install`)"
        },
        status_code=503,
    )


def mount_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` from local assets (create the app with
    ``docs_url=None, redoc_url=None``)."""
    assert {a.package for a in ASSETS} >= {"swagger-ui-dist", "redoc"}
    title = f"{app.title} - API docs"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> Response:
        return _not_installed("swagger-ui-dist") or _local_only(
            get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=title,
                swagger_js_url=SWAGGER_JS,
                swagger_css_url=SWAGGER_CSS,
                swagger_favicon_url=FAVICON,
                oauth2_redirect_url=OAUTH2_REDIRECT,
                swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
            )
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Response:
        return _not_installed("redoc") or _local_only(
            get_redoc_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=title,
                redoc_js_url=REDOC_JS,
                redoc_favicon_url=FAVICON,
                with_google_fonts=False,
            )
        )
