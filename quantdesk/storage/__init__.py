"""Storage: the market tables on SQLite (embedded) or PostgreSQL (scale-out).

``open_store(url)`` picks the backend from the URL scheme through
:data:`~quantdesk.storage.base.BACKENDS` and brings the schema up to date::

    with open_store("sqlite:///data/quantdesk.db") as store:
        store.upsert_bars(frame)
        rows = store.query_bars("AAPL", "5m", limit=200)

URLs: ``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``sqlite://``
(in memory), ``postgresql://user:pass@host:5432/db`` (also ``postgres://``
and socket URLs such as ``postgresql://postgres:@/postgres?host=/tmp/pg``).
"""

from __future__ import annotations

from quantdesk.errors import StorageError
from quantdesk.storage import postgres as _postgres
from quantdesk.storage import sqlite as _sqlite
from quantdesk.storage.base import BACKENDS, BarRow, MarketStatus, PriceRow, Store
from quantdesk.storage.migrations import MIGRATIONS, Migration, latest_version

__all__ = [
    "BACKENDS",
    "MIGRATIONS",
    "BarRow",
    "MarketStatus",
    "Migration",
    "PriceRow",
    "Store",
    "latest_version",
    "open_store",
]

# The backend modules register themselves in BACKENDS on import.
_BACKEND_MODULES = (_sqlite, _postgres)


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store named by ``url``; with ``migrate`` (default) apply pending migrations.

    Raises :class:`~quantdesk.errors.StorageError` (one line, no password) for an
    unknown scheme, a malformed URL or a database that cannot be reached.
    """
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise StorageError(
            f"database URL {_postgres.redact(url)!r} has no scheme:"
            " use sqlite:///path.db or postgresql://user@host/db"
        )
    factory = BACKENDS.get(scheme.lower())
    if factory is None:
        known = ", ".join(sorted(f"{s}://" for s in BACKENDS))
        raise StorageError(f"unknown database URL scheme {scheme + '://'!r}: use one of {known}")
    store = factory(url)
    if migrate:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store
