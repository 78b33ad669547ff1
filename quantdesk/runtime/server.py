"""How quantdesk serves its API: one uvicorn configuration for ``run`` and ``serve``.

``quantdesk run`` (beside the live market), ``quantdesk run --source
finnhub``, ``quantdesk serve`` and the API benchmarks all build their server
here, so what is measured is what runs. Choices, each measured with
``python -m benchmarks api``:

* uvloop and httptools (uvicorn's ``auto``, both from ``uvicorn[standard]``).
* No access log: a line per request costs more than serving a cached answer.
* Forwarded headers only from named proxies (``QUANTDESK_FORWARDED_ALLOW_IPS``).
* No WebSocket compression (``permessage-deflate``): the market channel
  fans one message out to every client, and deflate compresses it again per
  client, on the event loop (with 50 clients it was ~a quarter of the loop's
  time). The messages are a few hundred bytes of JSON; clients that ask for
  compression simply get plain frames.
* :func:`freeze_startup_objects`: after start-up the process holds a few
  hundred thousand long-lived objects (modules, pandas, numpy, FastAPI's
  routes and models). CPython's full collections walk all of them: under
  load they paused the event loop for 55-65 ms every 2-3 s (measured), the
  worst of ``/api/klines``' tail. Frozen, they are out of the collector's
  sight; a full collection then takes ~1 ms.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import uvicorn


def api_config(
    app: Any,
    host: str,
    port: int,
    *,
    log_level: str | None = "warning",
    lifespan: Literal["auto", "on", "off"] = "auto",
    ws: str = "auto",
    forwarded_allow_ips: str | None = None,
) -> uvicorn.Config:
    """The uvicorn configuration of quantdesk's API server.

    ``X-Forwarded-For``/``-Proto`` are honoured only from the proxies named in
    ``forwarded_allow_ips`` (default: the app's ``QUANTDESK_FORWARDED_ALLOW_IPS``;
    empty: from nobody, not even loopback, so a local process cannot forge the
    client address the login limiter and the audit log see).
    """
    import uvicorn

    if forwarded_allow_ips is None:
        settings = getattr(getattr(app, "state", None), "settings", None)
        forwarded_allow_ips = str(getattr(settings, "forwarded_allow_ips", "") or "")
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan=lifespan,
        log_config=None,  # the command set logging up (quantdesk.config.logs): same format
        ws=ws,
        ws_per_message_deflate=False,
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=forwarded_allow_ips or None,
    )


def freeze_startup_objects() -> None:
    """Collect once, then exclude every object alive now from later collections.

    Call when start-up is done (the app built, the store open), before serving.
    Objects created later are collected as usual; frozen ones that die are
    freed by reference counting like any other (only cycles among them stay).
    """
    gc.collect()
    gc.freeze()


def serve_api(app: Any, host: str, port: int, *, log_level: str | None = None) -> None:
    """Run the API server until SIGINT/SIGTERM (``quantdesk serve``)."""
    import uvicorn

    server = uvicorn.Server(api_config(app, host, port, log_level=log_level))
    freeze_startup_objects()
    server.run()
