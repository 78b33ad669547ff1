"""How quantdesk serves its API: one uvicorn configuration for ``run`` and ``serve``.

``quantdesk run`` (beside the live market), ``quantdesk run --source
finnhub``, ``quantdesk serve`` and the API benchmarks all build their server
here, so what is measured is what runs. Choices, each measured with
``python -m benchmarks api`` and ``python -m benchmarks http``:

* uvloop and httptools (uvicorn's ``auto``, both from ``uvicorn[standard]``).
* No access log: a line per request costs more than serving a cached answer.
  Whatever uvicorn does log (WebSocket handshakes, errors) goes through
  :class:`RedactQuery`, which masks every query-string value, so a token a
  client put in a URL never reaches a log.
* Forwarded headers only from named proxies (``QUANTDESK_FORWARDED_ALLOW_IPS``).
* No WebSocket compression (``permessage-deflate``): the market channel
  fans one message out to every client, and deflate compresses it again per
  client, on the event loop (with 50 clients it was ~a quarter of the loop's
  time). The messages are a few hundred bytes of JSON; clients that ask for
  compression simply get plain frames.
* Inbound WebSocket frames of at most ``QUANTDESK_WS_MAX_FRAME_BYTES``
  (64 KiB; uvicorn's default is 16 MiB, so twenty 4 MiB pings held 98 MiB).
* A 1 ms GIL switch interval (:data:`SWITCH_INTERVAL_S`, set by
  :func:`api_config`; Python's default is 5 ms). In ``quantdesk run`` the
  market thread is busy in Python most of the time; each time the event
  loop came back from waiting on its sockets it waited up to 5 ms for the
  lock, several times per request. Measured with ``python -m benchmarks
  fanout`` (``--speed 60``, 200 clients), ``/health`` p99 went from 106-205 ms
  to 74-80 ms.
* :func:`freeze_startup_objects`: after start-up the process holds a few
  hundred thousand long-lived objects (modules, pandas, numpy, FastAPI's
  routes and models). CPython's full collections walk all of them: under
  load they paused the event loop for 55-65 ms every 2-3 s (measured), the
  worst of ``/api/klines``' tail. Frozen, they are out of the collector's
  sight; a full collection then takes ~1 ms.

Several API processes (``quantdesk serve --workers N``, :func:`serve_workers`):
the API holds no processing state (live data comes from the bus, rules from
the store), so N processes can serve one port. Each child binds the port
with ``SO_REUSEPORT``, so the kernel spreads connections evenly over them
(a shared accept queue lets the first process that wakes take a whole burst
of connections); each is its own bus reader. The parent only prepares the
store once (migrations, default users: their passwords are printed once),
starts the children, forwards SIGINT/SIGTERM, and stops them all with an
error if one dies. With the in-process bus nothing live reaches an API-only
process, so ``quantdesk run`` keeps its single API beside the runtime.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import re
import signal
import socket
import sys
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from quantdesk.bus import Bus
    from quantdesk.config import Settings

DEFAULT_WS_MAX_SIZE = 65_536
SWITCH_INTERVAL_S = 0.001
_QUERY_VALUE = re.compile(r"=[^&\s\"']*")


class RedactQuery(logging.Filter):
    """Masks query-string values in uvicorn's log records (``?token=***``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, str) and "?" in a for a in args):
            record.args = tuple(_redact(a) if isinstance(a, str) else a for a in args)
        elif isinstance(record.msg, str) and "?" in record.msg and not args:
            record.msg = _redact(record.msg)
        return True


def _redact(text: str) -> str:
    path, sep, query = text.partition("?")
    return path + sep + _QUERY_VALUE.sub("=***", query) if sep else text


_REDACTOR = RedactQuery()


def install_redaction() -> None:
    """Put :class:`RedactQuery` on uvicorn's loggers (idempotent)."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def api_config(
    app: Any,
    host: str,
    port: int,
    *,
    log_level: str | None = "warning",
    lifespan: Literal["auto", "on", "off"] = "auto",
    ws: str = "auto",
    ws_max_size: int = DEFAULT_WS_MAX_SIZE,
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
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan=lifespan,
        log_config=None,  # the command set logging up (quantdesk.config.logs): same format
        ws=ws,
        ws_per_message_deflate=False,
        ws_max_size=ws_max_size,
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=forwarded_allow_ips or None,
    )
    install_redaction()  # after the Config: it (re)configures uvicorn's loggers
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return config


def freeze_startup_objects() -> None:
    """Collect once, then exclude every object alive now from later collections.

    Call when start-up is done (the app built, the store open), before serving.
    Objects created later are collected as usual; frozen ones that die are
    freed by reference counting like any other (only cycles among them stay).
    """
    gc.collect()
    gc.freeze()


def serve_api(
    app: Any,
    host: str,
    port: int,
    *,
    log_level: str | None = None,
    ws_max_size: int = DEFAULT_WS_MAX_SIZE,
) -> None:
    """Run one API server until SIGINT/SIGTERM (``quantdesk serve``)."""
    import uvicorn

    server = uvicorn.Server(
        api_config(app, host, port, log_level=log_level, ws_max_size=ws_max_size)
    )
    freeze_startup_objects()
    server.run()


# -- quantdesk serve: the app over the configured store and bus, 1..N processes ---------


def serve_bus(settings: Settings) -> Bus | None:
    """The bus an API-only process reads live output from (None: the in-process bus,
    which nothing else can write to)."""
    if settings.bus == "memory":
        return None
    from quantdesk.bus import bus_from_settings

    bus = bus_from_settings(settings, session_timeout_ms=settings.kafka_session_timeout_ms)
    bus.start()
    return bus


def build_app(
    settings: Settings, echo: Callable[[str], None]
) -> tuple[FastAPI, Callable[[], None]]:
    """The API over the configured store and bus; returns it and its closer."""
    from quantdesk.api.app import create_app
    from quantdesk.api.context import ApiContext
    from quantdesk.storage import open_store

    store = open_store(settings.resolved_database_url)
    bus: Bus | None = None
    try:
        bus = serve_bus(settings)
        app = create_app(ApiContext(store, settings, bus), echo=echo)
    except BaseException:
        if bus is not None:
            bus.close()
        store.close()
        raise

    def close() -> None:
        try:
            if bus is not None:
                bus.close()
        finally:
            store.close()

    return app, close


def _reuseport_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _child(overrides: dict[str, Any]) -> None:
    """One API process of ``serve --workers N`` (a fresh interpreter: spawn)."""
    import uvicorn

    from quantdesk.config import load_settings
    from quantdesk.config.logs import configure_logging

    settings = load_settings(**overrides)
    configure_logging(settings)  # as every command: stderr and the shared log file
    app, close = build_app(settings, echo=lambda _m: None)
    sock = _reuseport_socket(settings.api_host, settings.api_port)
    config = api_config(
        app,
        settings.api_host,
        settings.api_port,
        log_level=None,
        ws_max_size=settings.ws_max_frame_bytes,
    )
    server = uvicorn.Server(config)
    freeze_startup_objects()
    try:
        server.run(sockets=[sock])
    finally:
        close()


def serve_workers(
    settings: Settings,
    workers: int,
    *,
    overrides: dict[str, Any] | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    """Run ``workers`` API processes on one port until SIGINT/SIGTERM; the exit code."""
    from quantdesk.errors import ConfigError

    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError("--workers above 1 needs SO_REUSEPORT (Linux, BSD, macOS)")
    host, port = settings.api_host, settings.api_port
    # the port must be free: a socket without SO_REUSEPORT fails on any holder
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    # migrations and default users once, here (a generated password is printed once)
    _app, close = build_app(settings, echo)
    close()
    del _app
    ctx = multiprocessing.get_context("spawn")
    kids = [
        ctx.Process(
            target=_child,
            args=(overrides or {},),
            name=f"quantdesk-api-{k}",
            daemon=False,
        )
        for k in range(workers)
    ]
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True
        for kid in kids:
            if kid.is_alive() and kid.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(kid.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for kid in kids:
            kid.start()
        echo(f"API on http://{host}:{port}: {workers} processes (pids {[k.pid for k in kids]})")
        code = 0
        # one is_alive() pass per round: asking twice let a process die in between and
        # left wait() an empty list, which blocks forever
        while alive := [k for k in kids if k.is_alive()]:
            wait([k.sentinel for k in alive])
            if not stopping and any(not k.is_alive() for k in kids):
                dead = next(k for k in kids if not k.is_alive())
                echo(f"error: API process {dead.pid} exited ({dead.exitcode}); stopping")
                code = 1
                stop()
        for kid in kids:
            kid.join()
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.stdout.flush()
