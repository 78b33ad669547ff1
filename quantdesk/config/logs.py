"""How every command logs: one handler on stderr, one record format, secrets redacted.

:func:`setup_logging` is called once by every ``quantdesk`` command as soon
as its settings are loaded (``quantdesk.commands._common._settings``), so
``run``, ``serve``, ``worker``, ``ingest``, ``backfill`` ... all log the same
way: records at ``QUANTDESK_LOG_LEVEL`` and above from quantdesk (the audit
lines of logins and rule changes included) and from the libraries under it
(uvicorn's server lines: the API server leaves logging to us, see
:func:`quantdesk.runtime.server.api_config`) go to stderr as::

    2026-05-06T01:30:00.123Z WARNING quantdesk.audit: audit action=login.failed ...

(the time in UTC to the millisecond, as ``/api/logs`` shows it).

**No secret reaches a log line.** A filter on the handler, on quantdesk's
in-memory log book and on uvicorn's loggers rewrites every record before it
is written: query-string values of ``token``, ``access_token``, ``key``,
``apikey``/``api_key``, ``password``, ``secret`` and ``auth`` become ``***``
(``WebSocket /ws/logs?token=***``, a Finnhub REST URL logged by httpx), as do
``Bearer <token>`` and anything shaped like a JWT (``eyJ...``). Redaction
works on the finished message, so it holds whatever the format string was.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from typing import Any, TextIO

#: Query parameters whose values are secrets.
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:access_)?(?:token|api_?key|key|password|passwd|secret|auth)=)[^&\s\"'#;]+"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
MASK = "***"

#: Loggers of libraries that can log a URL with its query string.
URL_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "httpx", "websockets")

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    """``text`` with secret query values, bearer tokens and JWTs replaced by ``***``."""
    if "=" in text:
        text = _QUERY_SECRET.sub(r"\1" + MASK, text)
    if "eyJ" in text:
        text = _JWT.sub(MASK, text)
    if "earer" in text:
        text = _BEARER.sub(r"\1" + MASK, text)
    return text


class RedactFilter(logging.Filter):
    """Rewrites a record's message with :func:`redact` (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format: let the handler report it as usual
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = RedactFilter()


class UtcFormatter(logging.Formatter):
    """ISO 8601 UTC time to the millisecond, ``Z`` suffix."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (test runners swap it)."""

    _QUANTDESK = True

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self) -> Any:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # StreamHandler.__init__ assigns it; the property decides


def setup_logging(level: str | int = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Install quantdesk's stderr handler on the root logger (once; again replaces it).

    Sets the root and ``quantdesk`` loggers to ``level`` and puts the
    redaction filter on the handler and on :data:`URL_LOGGERS`. Returns the handler.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_QUANTDESK", False)]:
        root.removeHandler(old)
    handler = _StderrHandler(stream)
    handler.setFormatter(UtcFormatter(FORMAT))
    handler.addFilter(_FILTER)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("quantdesk").setLevel(level)
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own set-up (if any ran) is undone:
        logger = logging.getLogger(name)  # its server lines go through this handler
        logger.handlers.clear()
        logger.propagate = True
    return handler


def redacting_filter() -> logging.Filter:
    """The shared redaction filter, for handlers installed elsewhere (the log book)."""
    return _FILTER
