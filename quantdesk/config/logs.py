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

**The log file** (seed E kept one): the same records also go to
``QUANTDESK_LOG_FILE`` (default ``<data_dir>/logs/quantdesk.log``; empty =
none), rotated when it reaches ``QUANTDESK_LOG_FILE_MAX_BYTES`` (10 MiB) into
``quantdesk.log.1`` ... ``.N`` (``QUANTDESK_LOG_FILE_BACKUPS``, 5). Every
command of a data dir appends to the one file, so ``run``, ``worker`` and a
``quantdesk keys revoke`` typed meanwhile interleave in time order, and
``GET /api/logs`` searches them all (:mod:`quantdesk.api.logbook`). Several
processes rotating one file is what the standard ``RotatingFileHandler``
gets wrong (each renames under the others' feet); concurrent-log-handler's
handler takes a lock file around each write and rollover.

**JSON lines** (``QUANTDESK_LOG_FORMAT=json``, for log shippers): one object
per record, on stderr and in the file::

    {"time": "2026-05-06T01:30:00.123Z", "level": "WARNING", "logger": "quantdesk.audit",
     "message": "audit action=login.failed ...", "pid": 4711}

plus ``"exc"`` (the traceback) when the record has one.

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
import os
import re
import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

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


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC ms), level, logger, message, pid[, exc].

    Hand-written: the shape must be the one the log search reads back
    (:mod:`quantdesk.api.logbook`), and one ``orjson.dumps`` of a dict is all it is.
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        doc: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc"] = record.exc_text
        return orjson.dumps(doc, default=str).decode()


def formatter(fmt: str = "text") -> logging.Formatter:
    """The record format: ``text`` (:data:`FORMAT`, UTC ms) or ``json`` (:class:`JsonFormatter`)."""
    return JsonFormatter() if fmt == "json" else UtcFormatter(FORMAT)


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


def setup_logging(
    level: str | int = "INFO",
    stream: TextIO | None = None,
    *,
    log_file: Path | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
    fmt: str = "text",
) -> logging.Handler:
    """Install quantdesk's stderr handler (and, with ``log_file``, the rotating file
    handler) on the root logger (once; again replaces them).

    Sets the root and ``quantdesk`` loggers to ``level`` and puts the
    redaction filter on the handlers and on :data:`URL_LOGGERS`. ``fmt`` is
    ``text`` or ``json``. A log file that cannot be opened is reported on
    stderr and left out (the command still runs). Returns the stderr handler.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_QUANTDESK", False)]:
        root.removeHandler(old)
        old.close()  # a file handler lets go of its file; stderr stays open
    handler = _StderrHandler(stream)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(_FILTER)
    root.addHandler(handler)
    if log_file is not None:
        try:
            file_handler = rotating_file_handler(log_file, max_bytes, backups)
        except OSError as exc:
            handler.handle(
                logging.makeLogRecord(
                    {
                        "name": "quantdesk.logs",
                        "levelno": logging.WARNING,
                        "levelname": "WARNING",
                        "msg": f"log file {log_file} cannot be written ({exc}); logging to "
                        "stderr only (set QUANTDESK_LOG_FILE, or empty for none)",
                    }
                )
            )
        else:
            file_handler.setFormatter(formatter(fmt))
            file_handler.addFilter(_FILTER)
            root.addHandler(file_handler)
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


def rotating_file_handler(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    """The size-rotated, multi-process-safe log file handler (parent folders created)."""
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    path.parent.mkdir(parents=True, exist_ok=True)
    handler = ConcurrentRotatingFileHandler(
        os.fspath(path), mode="a", maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    setattr(handler, "_QUANTDESK", True)  # noqa: B010 - replaced by the next set-up
    return handler


def configure_logging(settings: Any) -> logging.Handler:
    """:func:`setup_logging` from the settings (level, log file, rotation, format)."""
    return setup_logging(
        settings.log_level,
        log_file=settings.resolved_log_file,
        max_bytes=settings.log_file_max_bytes,
        backups=settings.log_file_backups,
        fmt=settings.log_format,
    )


def redacting_filter() -> logging.Filter:
    """The shared redaction filter, for handlers installed elsewhere (the log book)."""
    return _FILTER
