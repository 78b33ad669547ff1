"""The server's recent log records, kept in memory for ``GET /api/logs`` (seed B).

One :class:`LogBook` per process (server logs are per process) is attached to
the ``quantdesk`` logger by :func:`install`; it keeps the newest
:data:`CAPACITY` records at INFO and above in a ring buffer, so searching
never touches a file and memory stays bounded. The live tail is the
``/ws/logs`` channel (:class:`quantdesk.api.hub.HubLogHandler`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from dataclasses import dataclass

from quantdesk.config.logs import redacting_filter

CAPACITY = 5_000
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class LogRecord:
    time: str  # ISO 8601 UTC
    level: str
    levelno: int
    logger: str
    message: str

    @classmethod
    def of(cls, record: logging.LogRecord) -> LogRecord:
        """A ``logging`` record as stored and shown (the exception's type and text appended)."""
        message = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            message += f" ({record.exc_info[0].__name__}: {record.exc_info[1]})"
        stamp = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        time = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return cls(time, record.levelname, record.levelno, record.name, message)

    def data(self) -> dict[str, str]:
        """The API / WebSocket form: time, level, logger, message."""
        return {
            "time": self.time,
            "level": self.level,
            "logger": self.logger,
            "message": self.message,
        }


class LogBook(logging.Handler):
    """A bounded, thread-safe buffer of formatted records, searchable."""

    def __init__(self, capacity: int = CAPACITY, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.records: deque[LogRecord] = deque(maxlen=capacity)
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            item = LogRecord.of(record)
        except Exception:
            self.handleError(record)
            return
        with self._guard:
            self.records.append(item)

    def search(self, q: str = "", level: str = "INFO", limit: int = 200) -> list[LogRecord]:
        """The newest ``limit`` records at ``level`` or above whose message or logger
        contains ``q`` (case-insensitive), oldest first."""
        floor = logging.getLevelName(level.upper())
        if not isinstance(floor, int):
            raise ValueError(f"level: one of {', '.join(LEVELS)} (got {level[:20]!r})")
        needle = q.casefold()
        with self._guard:
            snapshot = list(self.records)
        out: list[LogRecord] = []
        for rec in reversed(snapshot):
            if rec.levelno < floor:
                continue
            text = f"{rec.logger} {rec.message}".casefold()
            if needle and needle not in text:
                continue
            out.append(rec)
            if len(out) >= limit:
                break
        out.reverse()
        return out


_book: LogBook | None = None
_install_lock = threading.Lock()


def install() -> LogBook:
    """The process's log book, attached to the ``quantdesk`` logger once."""
    global _book
    with _install_lock:
        if _book is None:
            _book = LogBook()
            _book.addFilter(redacting_filter())
            logging.getLogger("quantdesk").addHandler(_book)
        return _book
