"""SQLAlchemy engines for quantdesk store URLs, and the connection helpers every family uses.

:func:`engine_for` turns ``sqlite:///path.db`` or ``postgresql://...`` into an
:class:`sqlalchemy.Engine`; :func:`read`, :func:`write` and :func:`raw` hand out
its connections with one error shape (:class:`~quantdesk.errors.StorageError`,
one line, no password). The per-dialect choices, with why:

==============  =====================================  ==================================
                SQLite (``sqlite+pysqlite``)           PostgreSQL (``postgresql+psycopg``)
==============  =====================================  ==================================
pool            QueuePool, LIFO (a thread reading      QueuePool of ``pool_size``, LIFO
                again gets the same connection back);
                ``sqlite://`` (in memory): one
                connection, shared and taken in turn
transactions    the driver never begins one itself;    psycopg's; :func:`raw` switches a
                SQLAlchemy's begin is ``BEGIN          connection to autocommit for the
                IMMEDIATE`` (the write lock first:     fast paths (one round trip per
                a read-then-write transaction waits    query, no BEGIN/ROLLBACK)
                for another writer instead of
                failing on a stale snapshot),
                except under :func:`read`: ``BEGIN``
                (readers never wait)
writers         one lock per engine in this process    the server's row locks
file            created 0600 (the ``-wal``/``-shm``    (server side)
                files take the database's mode), WAL,
                16 KiB pages, ``synchronous=NORMAL``
==============  =====================================  ==================================
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sqlite3
import stat
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
import sqlalchemy as sa
from sqlalchemy.pool import QueuePool

from quantdesk.errors import StorageError

__all__ = [
    "conninfo",
    "engine_for",
    "is_closed",
    "is_postgres",
    "is_sqlite",
    "raw",
    "read",
    "redact",
    "sqlite_memory_used",
    "sqlite_path",
    "write",
]

log = logging.getLogger("quantdesk.storage")

#: Page size of new SQLite files (bytes): ~13% faster bulk loads of bars than 4 KiB (measured).
PAGE_SIZE: Final = 16_384
#: SQLite connections kept open per engine (more are opened when more threads read at once).
SQLITE_POOL_SIZE: Final = 8
#: Execution option that makes a SQLite transaction a DEFERRED one (reads only).
_DEFERRED: Final = "quantdesk_deferred"


class _Pin:
    """A pool connection one thread keeps for :func:`raw` (returned when the thread ends)."""

    __slots__ = ("__weakref__", "_finalizer", "proxied")

    def __init__(self, proxied: Any) -> None:
        self.proxied: Any = proxied
        self._finalizer = weakref.finalize(self, _give_back, proxied)

    def release(self) -> None:
        self.proxied = None
        self._finalizer()  # gives the connection back once (later calls do nothing)


def _give_back(proxied: Any) -> None:
    with suppress(Exception):  # a closed engine or connection: nothing to give back
        proxied.close()


@dataclass(eq=False)
class _EngineState:
    """What quantdesk keeps beside an engine: its name in messages, closed flag, write lock."""

    label: str
    url: str
    dialect: str
    memory: bool = False
    closed: bool = False
    write_lock: threading.RLock = field(default_factory=threading.RLock)
    #: SQLite files: a connection that only ever reads ``PRAGMA data_version`` (see
    #: :mod:`quantdesk.storage.sqlite`); guarded by ``watch_lock``.
    watcher: sqlite3.Connection | None = None
    watch_lock: threading.Lock = field(default_factory=threading.Lock)
    #: Opens a new DBAPI connection (the pool's creator).
    connect: Callable[..., Any] | None = None
    #: SQLite files: the pool connection each thread keeps for :func:`raw` reads.
    pins: threading.local = field(default_factory=threading.local)
    all_pins: weakref.WeakSet[_Pin] = field(default_factory=weakref.WeakSet)

    def closed_error(self) -> StorageError:
        return StorageError(f"the store {self.url} is closed; open a new one with open_store()")


_STATES: weakref.WeakKeyDictionary[sa.Engine, _EngineState] = weakref.WeakKeyDictionary()


def state(engine: sa.Engine) -> _EngineState:
    """quantdesk's bookkeeping for ``engine`` (engines not made here get a default one)."""
    found = _STATES.get(engine)
    if found is None:
        found = _STATES.setdefault(
            engine,
            _EngineState(
                label=f"database {engine.url.render_as_string(hide_password=True)}",
                url=engine.url.render_as_string(hide_password=True),
                dialect=engine.dialect.name,
            ),
        )
    return found


def is_closed(engine: sa.Engine) -> bool:
    """Whether the store on ``engine`` was closed (its threads should stop using it)."""
    return state(engine).closed


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


def is_postgres(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"


# -- URLs ---------------------------------------------------------------------------


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc[-1]}"))


def one_line(exc: BaseException, url: str = "") -> str:
    """The message of ``exc`` on one line, with the password of ``url`` masked."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    try:
        password = urlsplit(url).password if url else None
    except ValueError:
        password = None
    if password:
        text = text.replace(password, "***")
    return text


def sqlite_path(url: str) -> str:
    """The file path (or ``:memory:``) named by a ``sqlite://`` URL."""
    for prefix in ("sqlite+pysqlite://", "sqlite://"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            break
    else:
        raise StorageError(f"not a SQLite URL: {url!r}; use sqlite:///path/to/file.db")
    if rest in ("", "/", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/"):
        raise StorageError(
            f"SQLite URL {url!r} has a host part; use sqlite:///relative.db or sqlite:////abs.db"
        )
    path = rest[1:].split("?", 1)[0]
    if not path:
        raise StorageError(f"SQLite URL {url!r} names no file; use sqlite:///path/to/file.db")
    return path


def conninfo(url: str) -> str:
    """A libpq URL from ours (``postgresql+psycopg://`` is accepted too)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise StorageError(f"not a PostgreSQL URL: {redact(url)!r}; use postgresql://user@host/db")
    return "postgresql://" + rest


# -- engines ------------------------------------------------------------------------


def engine_for(url: str, *, pool_size: int = 10, connect_timeout: int = 10) -> sa.Engine:
    """A SQLAlchemy engine for a quantdesk store URL (``sqlite:///x.db``, ``postgresql://...``).

    Raises :class:`StorageError` (one line, no password) for an unknown scheme,
    a malformed URL, or a database that cannot be opened or reached.
    """
    scheme = url.partition("://")[0].lower()
    if scheme.split("+", 1)[0] == "sqlite":
        return sqlite_engine(url)
    if scheme.split("+", 1)[0] in ("postgresql", "postgres"):
        return postgres_engine(url, pool_size=pool_size, connect_timeout=connect_timeout)
    raise StorageError(f"unknown database URL scheme {scheme + '://'!r}")


def _private_file(path: str) -> None:
    """Create the database file with mode 0600 (SQLite gives ``-wal``/``-shm`` the same mode).

    A file that exists keeps its owner and group bits but loses any access
    for others (files of earlier releases were created world-readable).
    """
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create the folder for SQLite file {path!r}: {exc.strerror}"
        ) from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StorageError(f"cannot open SQLite file {path!r}: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if mode & 0o007:
            os.fchmod(fd, stat.S_IMODE(mode) & ~0o007)
            log.warning("SQLite file %s was readable by every user: now %o", path, mode & 0o770)
    except OSError:
        pass  # not ours to change (another owner): SQLite still opens it if it can
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        try:
            side = os.stat(path + suffix)
        except OSError:
            continue
        if side.st_mode & 0o007:
            with suppress(OSError):
                os.chmod(path + suffix, stat.S_IMODE(side.st_mode) & ~0o007)


@functools.cache
def _sqlite_library() -> Any:
    """The SQLite library the ``sqlite3`` module runs on, or None where it is not reachable."""
    import _sqlite3

    try:
        # dlsym on the extension's handle also searches the libraries it links to
        fn = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (OSError, AttributeError):  # linked statically, symbols hidden
        return None
    fn.restype = ctypes.c_int64
    fn.argtypes = []
    return fn


def sqlite_memory_used() -> int | None:
    """Bytes SQLite holds in this process (page caches, statements), or None if unknown."""
    fn = _sqlite_library()
    return None if fn is None else int(fn())


def sqlite_engine(url: str) -> sa.Engine:
    path = sqlite_path(url)
    memory = path == ":memory:"
    st = _EngineState(label=f"SQLite file {path!r}", url=url, dialect="sqlite", memory=memory)
    if not memory:
        _private_file(path)

    def connect() -> sqlite3.Connection:
        if st.closed:
            raise st.closed_error()
        try:
            conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe in WAL
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection
            conn.execute("PRAGMA temp_store=MEMORY")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite file {path!r}: {exc}") from None
        return conn

    engine = sa.create_engine(
        "sqlite+pysqlite://",
        creator=connect,
        poolclass=QueuePool,
        # In memory: one connection is the database; the pool hands it to one
        # thread at a time (a thread waits for it as it would for a lock).
        pool_size=1 if memory else SQLITE_POOL_SIZE,
        max_overflow=0 if memory else -1,
        pool_use_lifo=True,
        pool_timeout=60,
    )

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # The driver runs in autocommit mode (isolation_level=None): SQLAlchemy's
        # transactions are begun here. IMMEDIATE unless read() asked otherwise: a
        # transaction that reads and then writes takes the write lock first, so it
        # waits for another writer rather than failing on a stale snapshot.
        # Straight on the DBAPI connection: a SQLAlchemy execution here would
        # cost more than the BEGIN itself (measured ~25 us a transaction).
        deferred = conn.get_execution_options().get(_DEFERRED, False)
        dbapi = conn.connection.driver_connection
        assert dbapi is not None
        dbapi.execute("BEGIN" if deferred else "BEGIN IMMEDIATE")

    st.connect = connect
    _STATES[engine] = st
    if not memory:
        try:
            first = connect()
        except StorageError:
            engine.dispose()
            raise
        try:
            # 16 KiB pages only apply to a new, empty file, before WAL.
            first.execute(f"PRAGMA page_size={PAGE_SIZE}")
            mode = first.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(f"SQLite file {path!r} cannot use WAL mode ({mode})")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite file {path!r}: {exc}") from None
        finally:
            first.close()
    return engine


def postgres_engine(url: str, *, pool_size: int = 10, connect_timeout: int = 10) -> sa.Engine:
    info = conninfo(url)
    kwargs: dict[str, Any] = {
        "connect_timeout": connect_timeout,
        "client_encoding": "UTF8",
        "application_name": "quantdesk",
    }
    st = _EngineState(label=f"PostgreSQL at {redact(url)}", url=url, dialect="postgresql")
    # Connect once directly: a bad URL or a down server fails here with
    # libpq's own reason, rather than later inside the pool.
    try:
        psycopg.connect(info, **kwargs).close()
    except (psycopg.Error, ValueError) as exc:
        raise StorageError(
            f"cannot connect to PostgreSQL at {redact(url)}: {one_line(exc, url)}"
        ) from None

    def connect(**extra: Any) -> psycopg.Connection[Any]:
        if st.closed:
            raise st.closed_error()
        return psycopg.connect(info, **{**kwargs, **extra})

    engine = sa.create_engine(
        "postgresql+psycopg://",
        creator=connect,
        poolclass=QueuePool,
        pool_size=max(1, pool_size),
        max_overflow=0,
        pool_use_lifo=True,
        json_serializer=orjson.dumps,
        json_deserializer=orjson.loads,
    )
    st.connect = connect
    _STATES[engine] = st
    return engine


def dedicated_connection(engine: sa.Engine, timeout: float | None = None) -> Any:
    """A new DBAPI connection outside the pool (the caller closes it), e.g. a bulk-load
    helper; ``timeout``: seconds to wait for a PostgreSQL server (default the engine's)."""
    st = state(engine)
    if st.closed:
        raise st.closed_error()
    if st.connect is None:
        raise StorageError(f"{st.label}: no dedicated connections for this engine")
    if timeout is not None and is_postgres(engine):
        return st.connect(connect_timeout=max(1, round(timeout)))
    return st.connect()


def close(engine: sa.Engine) -> None:
    """Close ``engine`` for good: later connections raise "the store ... is closed"."""
    st = state(engine)
    st.closed = True
    for pin in list(st.all_pins):
        pin.release()
    with st.watch_lock:
        if st.watcher is not None:
            st.watcher.close()
            st.watcher = None
    engine.dispose()


# -- connections --------------------------------------------------------------------


@contextmanager
def errors(engine: sa.Engine, doing: str = "failed") -> Iterator[None]:
    """Turn driver and SQLAlchemy errors into one-line :class:`StorageError`."""
    try:
        yield
    except StorageError:
        raise
    except (sa.exc.DBAPIError, sqlite3.Error, psycopg.Error) as exc:
        st = state(engine)
        orig: BaseException = exc
        if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
            orig = exc.orig
        if st.closed and isinstance(orig, sqlite3.ProgrammingError | psycopg.OperationalError):
            raise st.closed_error() from None
        raise StorageError(f"{st.label}: {doing}: {one_line(orig, st.url)}") from None
    except sa.exc.SQLAlchemyError as exc:
        st = state(engine)
        raise StorageError(f"{st.label}: {doing}: {one_line(exc, st.url)}") from None


def _check_open(engine: sa.Engine) -> None:
    st = state(engine)
    if st.closed:
        raise st.closed_error()


@contextmanager
def read(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection for reads (errors as :class:`StorageError`).

    On SQLite its transactions are DEFERRED: readers never wait for a writer
    nor for each other (WAL). Any other SQLAlchemy transaction on a SQLite
    engine begins IMMEDIATE (see :func:`sqlite_engine`).
    """
    _check_open(engine)
    with errors(engine, "query failed"), engine.connect() as conn:
        if is_sqlite(engine):
            conn.execution_options(**{_DEFERRED: True})
        yield conn


def write_lock(engine: sa.Engine) -> AbstractContextManager[Any]:
    """The in-process writer lock of a SQLite engine (a no-op context elsewhere)."""
    return state(engine).write_lock if is_sqlite(engine) else nullcontext()


@contextmanager
def write(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One write transaction: committed at the end, rolled back on any error.

    On SQLite it holds this process's writer lock and begins IMMEDIATE (the
    database's write lock first), so concurrent writers queue instead of
    failing to upgrade a read transaction.
    """
    _check_open(engine)
    with (
        write_lock(engine),
        errors(engine, "write failed"),
        engine.connect() as conn,
        conn.begin(),
    ):
        yield conn


@dataclass(frozen=True, slots=True)
class RawWrite:
    """A DBAPI connection inside a write transaction (see :func:`raw_write`)."""

    dialect: sa.Dialect
    dbapi: Any


@contextmanager
def raw_write(engine: sa.Engine) -> Iterator[RawWrite]:
    """:func:`write` on the DBAPI connection, for the hot writes (the stream sink's).

    The same transaction rules (SQLite: this process's writer lock, then
    ``BEGIN IMMEDIATE``), without SQLAlchemy's connection and transaction
    objects, whose per-transaction work cost several times the ``BEGIN`` and
    ``COMMIT`` themselves (measured ~20 us of CPU a write). Only
    :func:`quantdesk.storage.sql.upsert_values` and friends take the handle.
    """
    with write_lock(engine), raw(engine, "write failed") as dbapi:
        handle = RawWrite(engine.dialect, dbapi)
        if is_postgres(engine):
            with dbapi.transaction():
                yield handle
            return
        dbapi.execute("BEGIN IMMEDIATE")
        try:
            yield handle
        except BaseException:
            if dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
            raise
        dbapi.execute("COMMIT")


@contextmanager
def raw(engine: sa.Engine, doing: str = "query failed") -> Iterator[Any]:
    """A pooled DBAPI connection in autocommit mode, for the fast paths.

    SQLite's connections always are (transactions are begun explicitly);
    a psycopg connection is switched to autocommit for the duration, so a
    query is one round trip (no BEGIN, no ROLLBACK when it goes back to the
    pool), and switched back before it returns to the pool.
    """
    st = state(engine)
    if st.closed:
        raise st.closed_error()
    if st.dialect == "sqlite" and not st.memory:
        # Each thread keeps one pool connection for these reads, as SQLite
        # readers never block anyone: a pool check-out and check-in around
        # every query cost ~20 us (measured), 8% of a newest-200 query.
        pin: _Pin | None = getattr(st.pins, "pin", None)
        with errors(engine, doing):
            if pin is None or pin.proxied is None:
                pin = st.pins.pin = _Pin(engine.raw_connection())
                st.all_pins.add(pin)
            yield pin.proxied.driver_connection
        return
    with errors(engine, doing):
        proxied = engine.raw_connection()
        try:
            dbapi = proxied.driver_connection
            if not is_postgres(engine):
                yield dbapi
                return
            pg: psycopg.Connection[Any] = dbapi  # type: ignore[assignment]
            if pg.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                pg.rollback()
            pg.autocommit = True
            try:
                yield pg
            finally:
                try:
                    pg.autocommit = False
                except psycopg.Error:
                    proxied.invalidate()  # broken or busy: the pool opens a new one
        finally:
            proxied.close()
