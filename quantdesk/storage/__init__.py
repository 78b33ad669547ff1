"""Storage: the table families on SQLite (embedded) or PostgreSQL (scale-out), SQL written once.

``open_store(url)`` picks the backend from the URL scheme through
:data:`~quantdesk.storage.base.BACKENDS` (a :class:`~quantdesk.plugins.Registry`)
and brings the schema up to date::

    with open_store("sqlite:///data/quantdesk.db") as store:
        store.upsert_bars(frame)
        rows = store.query_bars("AAPL", "5m", limit=200)
        store.engine            # a sqlalchemy.Engine on the same database

URLs: ``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``sqlite://``
(in memory), ``postgresql://user:pass@host:5432/db`` (also ``postgres://``
and socket URLs such as ``postgresql://postgres:@/postgres?host=/tmp/pg``).

Layout: one module per table family, each a repository class over a
:class:`sqlalchemy.Engine` whose SQL is written once with SQLAlchemy Core
(:mod:`~quantdesk.storage.bars`, :mod:`~quantdesk.storage.market`,
:mod:`~quantdesk.storage.streams`, :mod:`~quantdesk.storage.tweets`,
:mod:`~quantdesk.storage.accounts`); the dialect differences live in
:mod:`~quantdesk.storage.sql` (types, upserts) and
:mod:`~quantdesk.storage.engines` (pools, transactions); the two measured
fast paths (bulk bar writes, the SQLite data version) in
:mod:`~quantdesk.storage.sqlite` and :mod:`~quantdesk.storage.postgres`;
:class:`~quantdesk.storage.base.Store` holds one repository of each family.

How to add a table family (orders and fills, model versions, job runs, ...)
------------------------------------------------------------------------------

1. A module ``quantdesk/storage/<family>.py`` declares its tables on
   :data:`~quantdesk.storage.sql.METADATA` with the portable types of
   :mod:`~quantdesk.storage.sql`: times ``Millis`` (BIGINT epoch ms UTC), text
   keys ``Key``, surrogate keys ``Id``, JSON ``JsonDoc``, money ``Numeric`` or
   ``Float``; indexes as ``sa.Index(...)`` in the table::

       ORDERS = sa.Table(
           "orders", METADATA,
           sa.Column("id", Key, primary_key=True),
           sa.Column("symbol", Key, nullable=False),
           sa.Column("created", Millis, nullable=False),
           sa.Column("qty", sa.Numeric(20, 4), nullable=False),
           sa.Index("orders_by_symbol", "symbol", "created"),
       )

2. A repository class takes the engine and writes each query once, with
   :func:`~quantdesk.storage.sql.write` for a transaction and
   :func:`~quantdesk.storage.sql.read` for reads (both raise
   :class:`~quantdesk.errors.StorageError`, one line; on SQLite a ``read`` never
   waits, while ``write`` and any plain ``engine.begin()`` take the write lock
   first, so a read-then-write transaction waits its turn instead of failing),
   :func:`~quantdesk.storage.sql.upsert` / ``insert_new`` for idempotent
   writes on a natural key, and :func:`~quantdesk.storage.sql.serialize` when
   writers of the family must take turns::

       class Orders:
           def __init__(self, engine: sa.Engine) -> None:
               self.engine = engine

           def save(self, rows: Sequence[Mapping[str, Any]]) -> None:
               with sql.write(self.engine) as conn:
                   sql.upsert(conn, ORDERS, rows, ["id"])

   It is built on ``store.engine`` (``Orders(store.engine)``); tests run it
   against both backends with the ``store`` fixture of
   ``tests/fixtures/postgres.py``.

3. A migration step creates the tables (with their indexes) on either
   dialect: append ``Migration(N, "orders and fills", tables=(ORDERS, FILLS))``
   to :data:`~quantdesk.storage.migrations.MIGRATIONS`. Existing stores get
   it on their next ``open_store``/``migrate``.

4. A fast path only where a benchmark shows it pays, isolated in the
   backend's module with a comment saying what it saves (as the bulk bar
   writes do), and a test that it stores what the Core path stores.
"""

from __future__ import annotations

from quantdesk.errors import StorageError
from quantdesk.storage.base import BACKENDS, BarRow, MarketStatus, PriceRow, Store, UserRow
from quantdesk.storage.engines import redact
from quantdesk.storage.migrations import MIGRATIONS, Migration, latest_version

__all__ = [
    "BACKENDS",
    "MIGRATIONS",
    "BarRow",
    "MarketStatus",
    "Migration",
    "PriceRow",
    "Store",
    "UserRow",
    "latest_version",
    "open_store",
]


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store named by ``url``; with ``migrate`` (default) apply pending migrations.

    Raises :class:`~quantdesk.errors.StorageError` (one line, no password) for an
    unknown scheme, a malformed URL or a database that cannot be reached.
    """
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise StorageError(
            f"database URL {redact(url)!r} has no scheme:"
            " use sqlite:///path.db or postgresql://user@host/db"
        )
    if scheme.lower() not in BACKENDS:
        known = ", ".join(f"{s}://" for s in BACKENDS.names())
        raise StorageError(f"unknown database URL scheme {scheme + '://'!r}: use one of {known}")
    store = BACKENDS.get(scheme.lower())(url)
    if migrate:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store
