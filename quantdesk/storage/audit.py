"""The audit log: who did what, when and from where, kept in the store (seed C).

Every package records an audited action with one call::

    from quantdesk.storage.audit import audit

    audit(store, "order.submit", user="admin", client="10.0.0.5",
          detail={"order_id": "o-1", "symbol": "600036.SH", "side": "buy", "qty": 100})

``target`` is where the store is: a :class:`~quantdesk.storage.base.Store`
(its ``engine``, or an engine on its URL), a SQLAlchemy
:class:`~sqlalchemy.Engine` or an :class:`AuditRepository`. The row is
written at once (its own transaction) and the same fact goes to the
``quantdesk.audit`` logger as one line (``audit action=... user=... client=...``).
Actions are dotted lower-case names, the first part naming the thing:
``login``, ``login.failed``, ``login.limited``, ``signal_rule.create|update|
delete``, ``key.create|revoke``, ``user.set_password``, ``job.schedule``,
``job.run``; trading and model code add ``order.*`` and ``model.*``.

Decision: a failed audit write is logged at ERROR and :func:`audit` returns
False; it never raises into the action it records (a login or an order must
not fail because the audit table is locked), and the log line is written
either way, so the fact is never lost silently.

Table (SQLAlchemy Core on :data:`~quantdesk.storage.sql.METADATA`; times are
``BIGINT`` epoch ms UTC):

``audit_log``
    ``id`` (ascending), ``time_ms``, ``username`` (who: a user, ``cli:<os
    user>`` for commands, or the name tried in a failed login), ``action``,
    ``client`` (from where: the client address, or ``cli@<host>``) and
    ``detail`` (a JSON object: what exactly, e.g. the rule or key id).
    Indexed by time, by (username, time) and by (action, time).
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import re
import socket
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
import sqlalchemy as sa

from quantdesk.storage.sql import METADATA, Millis

__all__ = [
    "AUDIT_LOG",
    "TABLES",
    "AuditRepository",
    "AuditRow",
    "audit",
    "audit_log_of",
    "cli_identity",
]

log = logging.getLogger("quantdesk.audit")

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: rowid alias

AUDIT_LOG = sa.Table(
    "audit_log",
    METADATA,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("time_ms", Millis, nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("client", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("audit_log_by_time", "time_ms"),
    sa.Index("audit_log_by_user", "username", "time_ms"),
    sa.Index("audit_log_by_action", "action", "time_ms"),
)

#: The tables of this family (for ``METADATA.create_all(engine, tables=TABLES)``).
TABLES: Final = (AUDIT_LOG,)

#: An action name: dotted lower-case words (``login.failed``).
ACTION: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
#: Largest detail document stored (bytes of JSON); a larger one is cut (and says so).
MAX_DETAIL: Final = 8192
_PLAIN = re.compile(r"[\w.@:-]{1,64}")


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One stored audit record."""

    id: int
    time_ms: int
    username: str
    action: str
    client: str
    detail: dict[str, Any]

    def data(self) -> dict[str, Any]:
        """The API form."""
        stamp = dt.datetime.fromtimestamp(self.time_ms / 1000, tz=dt.UTC)
        return {
            "id": self.id,
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "time_ms": self.time_ms,
            "user": self.username,
            "action": self.action,
            "client": self.client,
            "detail": self.detail,
        }


def _detail_json(detail: Mapping[str, Any] | None) -> str:
    raw = orjson.dumps(dict(detail or {}), default=str, option=orjson.OPT_NON_STR_KEYS)
    if len(raw) > MAX_DETAIL:
        text = raw[: MAX_DETAIL - 100].decode("utf-8", "ignore")
        raw = orjson.dumps({"truncated": True, "text": text})
    return raw.decode()


def _decode(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}


class AuditRepository:
    """``audit_log`` on one database (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create_tables(self) -> None:
        """Create the table if missing (until the numbered migration step exists)."""
        METADATA.create_all(self.engine, tables=list(TABLES))

    def record(
        self,
        action: str,
        *,
        user: str,
        client: str = "",
        detail: Mapping[str, Any] | None = None,
        time_ms: int | None = None,
    ) -> int:
        """Store one record; its id."""
        row = {
            "time_ms": int(time.time() * 1000) if time_ms is None else int(time_ms),
            "username": str(user)[:64],
            "action": str(action)[:64],
            "client": str(client)[:200],
            "detail": _detail_json(detail),
        }
        with self.engine.begin() as conn:
            result = conn.execute(AUDIT_LOG.insert(), row)
            key = result.inserted_primary_key
        return int(key[0]) if key and key[0] is not None else 0

    def search(
        self,
        *,
        user: str | None = None,
        action: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 200,
    ) -> list[AuditRow]:
        """The newest ``limit`` records of ``[start_ms, end_ms)``, oldest first.

        ``user`` matches exactly; ``action`` matches itself and the actions under
        it (``login`` finds ``login``, ``login.failed`` and ``login.limited``).
        """
        t = AUDIT_LOG.c
        stmt = sa.select(AUDIT_LOG).order_by(t.time_ms.desc(), t.id.desc()).limit(limit)
        if user is not None:
            stmt = stmt.where(t.username == user)
        if action is not None:
            stmt = stmt.where(
                sa.or_(t.action == action, t.action.startswith(action + ".", autoescape=True))
            )
        if start_ms is not None:
            stmt = stmt.where(t.time_ms >= start_ms)
        if end_ms is not None:
            stmt = stmt.where(t.time_ms < end_ms)
        with self.engine.connect() as conn:
            rows = [
                AuditRow(
                    int(m["id"]),
                    int(m["time_ms"]),
                    str(m["username"]),
                    str(m["action"]),
                    str(m["client"]),
                    _decode(str(m["detail"])),
                )
                for m in conn.execute(stmt).mappings()
            ]
        rows.reverse()
        return rows


# -- audit(): the one call every package makes ---------------------------------------------

_by_engine: weakref.WeakKeyDictionary[sa.Engine, AuditRepository] = weakref.WeakKeyDictionary()
_by_url: dict[str, AuditRepository] = {}
_guard = threading.Lock()


def audit_log_of(target: Any) -> AuditRepository:
    """The audit repository of a store, an engine or a repository (tables created once)."""
    if isinstance(target, AuditRepository):
        return target
    engine = target if isinstance(target, sa.Engine) else getattr(target, "engine", None)
    with _guard:
        if isinstance(engine, sa.Engine):
            repo = _by_engine.get(engine)
            if repo is None:
                repo = _by_engine[engine] = AuditRepository(engine)
                repo.create_tables()
            return repo
        url = getattr(target, "url", None)
        if not isinstance(url, str):
            raise TypeError(f"audit: not a store, engine or AuditRepository: {type(target)!r}")
        repo = _by_url.get(url)
        if repo is None:
            from quantdesk.storage.sql import engine_for

            repo = AuditRepository(engine_for(url))
            repo.create_tables()
            _by_url[url] = repo
        return repo


def _show(value: str) -> str:
    """A value as a log line shows it: plain when it is a plain name, else quoted."""
    return value if _PLAIN.fullmatch(value) else repr(value[:200])


def _value(value: Any) -> str:
    if isinstance(value, str):
        return _show(value)
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()[:2000]


def audit(
    target: Any,
    action: str,
    *,
    user: str,
    client: str = "",
    detail: Mapping[str, Any] | None = None,
    time_ms: int | None = None,
    level: int = logging.INFO,
    log_line: bool = True,
) -> bool:
    """Record an audited action in ``target``'s ``audit_log`` (and as a log line).

    Returns True when the row was stored. ``log_line=False`` leaves the log
    line to the caller (one that already writes its own). Never raises for a
    storage failure (it is logged at ERROR, see the module docstring).
    """
    if not ACTION.fullmatch(action):
        raise ValueError(f"audit action must be dotted lower-case words (got {action!r})")
    if log_line:
        extra = "".join(f" {k}={_value(v)}" for k, v in (detail or {}).items())
        log.log(level, "audit action=%s user=%s client=%s%s", action, _show(user), client, extra)
    try:
        audit_log_of(target).record(
            action, user=user, client=client, detail=detail, time_ms=time_ms
        )
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        log.error("audit action=%s user=%s was not stored: %s", action, _show(user), exc)
        return False
    return True


def cli_identity() -> tuple[str, str]:
    """(who, from where) for a change made with a ``quantdesk`` command:
    ``("cli:<os user>", "cli@<host>")``."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return f"cli:{who}"[:64], f"cli@{socket.gethostname()}"[:200]
