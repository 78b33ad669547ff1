"""Log search for ``GET /api/logs`` (seed B): the log file first, this process's memory too.

The log file (``QUANTDESK_LOG_FILE``, see :mod:`quantdesk.config.logs`) holds
the records of every command of the data dir, rotated by size:
:func:`search_files` reads the current file and its rotated copies newest
first (each at most ``QUANTDESK_LOG_FILE_MAX_BYTES``, read whole, backwards
until enough records match), in either record format (text lines, whose
traceback lines belong to the record above them, or JSON lines).

One :class:`LogBook` per process is attached to the ``quantdesk`` logger by
:func:`install`; it keeps the newest :data:`CAPACITY` records at INFO and
above in a ring buffer: the search when there is no log file, and this
process's records when it does not write to the file itself
(:func:`search`). The live tail is the ``/ws/logs`` channel
(:class:`quantdesk.api.hub.HubLogHandler`).
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import os
import re
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

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


# -- the log file ----------------------------------------------------------------------

#: the text record format of quantdesk.config.logs: "<UTC ms> LEVEL logger: message"
_TEXT = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([^ :]+): (.*)"
)
_LEVELNO = {name: logging.getLevelName(name) for name in LEVELS}


def _floor(level: str) -> int:
    floor = logging.getLevelName(level.upper())
    if not isinstance(floor, int):
        raise ValueError(f"level: one of {', '.join(LEVELS)} (got {level[:20]!r})")
    return floor


def _parse(line: str, extra: list[str]) -> LogRecord | None:
    """A record from its first line (text or JSON) and its continuation lines."""
    if line.startswith("{"):
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("time"), str):
            return None
        level = str(doc.get("level", "INFO"))
        message = str(doc.get("message", ""))
        if doc.get("exc"):
            message += "\n" + str(doc["exc"])
        return LogRecord(
            doc["time"], level, _LEVELNO.get(level, 20), str(doc.get("logger", "")), message
        )
    m = _TEXT.fullmatch(line)
    if m is None:
        return None
    message = m.group(4)
    if extra:
        message += "\n" + "\n".join(extra)
    level = m.group(2)
    return LogRecord(m.group(1), level, _LEVELNO[level], m.group(3), message)


def log_files(path: Path) -> list[Path]:
    """The log file and its rotated copies, newest first (``x.log``, ``x.log.1``, ...)."""
    found: list[tuple[int, Path]] = []
    if not path.parent.is_dir():
        return []
    for entry in path.parent.iterdir():
        if entry.name == path.name:
            found.append((0, entry))
        elif entry.name.startswith(path.name + "."):
            suffix = entry.name[len(path.name) + 1 :]
            if suffix.isdigit():
                found.append((int(suffix), entry))
    return [p for _, p in sorted(found)]


def _records_backwards(text: str) -> Iterator[LogRecord]:
    """The records of one file's text, newest first."""
    pending: list[str] = []
    for line in reversed(text.splitlines()):
        record = _parse(line, pending[::-1]) if line[:1] in "{0123456789" else None
        if record is None:
            if line:
                pending.append(line)
            continue
        pending = []
        yield record


def search_files(
    path: Path,
    q: str = "",
    level: str = "INFO",
    limit: int = 200,
    start: str | None = None,
    end: str | None = None,
) -> list[LogRecord]:
    """The newest ``limit`` records of the log file and its rotated copies at ``level`` or
    above whose message or logger contains ``q``, in ``[start, end)`` (ISO 8601 UTC ms
    stamps), oldest first."""
    floor = _floor(level)
    needle = q.casefold()
    out: list[LogRecord] = []
    handles = []
    for file in log_files(path):  # opened together: a rotation meanwhile cannot skip one
        try:
            handles.append(open(file, "rb"))  # noqa: SIM115 - closed below
        except OSError:
            continue
    try:
        for handle in handles:
            text = handle.read().decode("utf-8", "replace")
            for rec in _records_backwards(text):
                if rec.levelno < floor:
                    continue
                if end is not None and rec.time >= end:
                    continue
                if start is not None and rec.time < start:
                    break  # older records only from here (a file is in time order)
                if needle and needle not in f"{rec.logger} {rec.message}".casefold():
                    continue
                out.append(rec)
                if len(out) >= limit:
                    break
            if len(out) >= limit:
                break
    finally:
        for handle in handles:
            handle.close()
    out.reverse()
    return out


def writes_to(path: Path) -> bool:
    """Whether this process's logging writes to ``path`` (the handler of config.logs)."""
    target = os.path.abspath(path)
    return any(getattr(h, "baseFilename", None) == target for h in logging.getLogger().handlers)


def search(
    book: LogBook,
    path: Path | None,
    q: str = "",
    level: str = "INFO",
    limit: int = 200,
    start: str | None = None,
    end: str | None = None,
) -> list[LogRecord]:
    """What ``GET /api/logs`` answers: the log file (every process of the data dir), plus
    this process's in-memory records when it does not write to that file itself."""
    _floor(level)
    from_file = search_files(path, q, level, limit, start, end) if path is not None else []
    if path is not None and writes_to(path):
        return from_file
    mine = [
        r
        for r in book.search(q, level, book.records.maxlen or CAPACITY)
        if (start is None or r.time >= start) and (end is None or r.time < end)
    ]
    merged = list(heapq.merge(from_file, mine, key=lambda r: r.time))
    return merged[-limit:]
