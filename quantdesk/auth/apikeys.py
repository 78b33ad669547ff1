"""Per-user API keys with a scope: ``read``, ``trade`` or ``admin`` (seed C).

A key looks like ``qdk_<id>_<secret>``: ``id`` is 12 hex digits, public (it
names the key in lists and audit rows), ``secret`` 32 random bytes
(URL-safe base64). An admin creates a key for a user; the key is shown once
and only its hash is stored (:mod:`quantdesk.storage.apikeys`). A client
sends it as ``X-API-Key: <key>`` (or, on a WebSocket, as its token).

Scopes map onto the rules tokens follow:

=========  ============================================================
scope      may
=========  ============================================================
``read``   what a guest token may: every read endpoint
``trade``  read, and place orders (endpoints guarded by ``require_trade``)
``admin``  everything an admin token may; only for a user whose role is admin
=========  ============================================================

Decision (hashing): the stored hash is a plain SHA-256 of the whole key,
compared in constant time. A key carries 256 random bits, so no offline
guessing can invert its hash, and a slow password hash (argon2, tens of
milliseconds by design) on every request would cap the API at a few dozen
requests per second per core; a keyed hash (a pepper) would tie every key
to a server secret that could then never change. Passwords, which people
choose, stay argon2id.

Decision (caching): a request's key is looked up in the database once and
the answer kept for :data:`CACHE_SECONDS`; a key revoked through this
process stops working at once (its entry is dropped), one revoked from
another process (``quantdesk keys revoke``, a second server) within
:data:`CACHE_SECONDS`. ``last_used`` is written at most once per
:data:`TOUCH_SECONDS` per key, so a busy key costs no write per request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from quantdesk.auth.tokens import Principal
from quantdesk.errors import DataError, NotFoundError
from quantdesk.storage.apikeys import ApiKeyRepository, ApiKeyRow
from quantdesk.storage.audit import audit

__all__ = [
    "CACHE_SECONDS",
    "PREFIX",
    "SCOPES",
    "TOUCH_SECONDS",
    "ApiKeys",
    "NewKey",
    "create_key",
    "hash_key",
    "key_id_of",
    "principal_of",
    "revoke_key",
]

SCOPES: Final = ("read", "trade", "admin")
PREFIX: Final = "qdk_"
ID_HEX: Final = 12
CACHE_SECONDS: Final = 1.0
TOUCH_SECONDS: Final = 60.0
MAX_NAME: Final = 100
#: bound on cached lookups (a spray of made-up keys cannot grow memory)
MAX_CACHED: Final = 10_000

_KEY = re.compile(r"qdk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")


def hash_key(key: str) -> str:
    """The stored form of a key: SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    """The id inside a well-formed key, else None (nothing to look up)."""
    m = _KEY.fullmatch(key)
    return m.group(1) if m else None


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created: ``key`` is shown once and never again."""

    key: str
    row: ApiKeyRow


class ApiKeys:
    """Creates, lists, revokes and checks API keys over one :class:`ApiKeyRepository`.

    Thread-safe: the API checks keys from its event loop and from worker
    threads at once.
    """

    def __init__(
        self,
        repo: ApiKeyRepository,
        *,
        cache_seconds: float = CACHE_SECONDS,
        touch_seconds: float = TOUCH_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.cache_seconds = cache_seconds
        self.touch_seconds = touch_seconds
        self._clock = clock
        #: hash -> (row or None, when the entry expires)
        self._cache: dict[str, tuple[ApiKeyRow | None, float]] = {}
        #: key id -> when last_used was last written (or found written)
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    # -- admin ------------------------------------------------------------------------

    def create(self, username: str, scope: str, *, role: str, name: str = "", by: str) -> NewKey:
        """A new key for ``username`` (whose role is ``role``), created by ``by``.

        Raises :class:`DataError` for an unknown scope, a name over
        :data:`MAX_NAME` characters or an admin key for a user who is not an admin.
        """
        if scope not in SCOPES:
            raise DataError(f"scope: use one of {', '.join(SCOPES)} (got {scope[:20]!r})")
        if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
            raise DataError(f"name: at most {MAX_NAME} printable characters")
        if scope == "admin" and role != "admin":
            raise DataError(
                f"user {username!r} has role {role}: an admin key needs a user with role admin"
            )
        key_id = secrets.token_hex(ID_HEX // 2)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        row = ApiKeyRow(key_id, username, scope, name, hash_key(key), int(self._clock() * 1000), by)
        self.repo.add(row)
        return NewKey(key, row)

    def listed(
        self, username: str | None = None, *, include_revoked: bool = False
    ) -> list[ApiKeyRow]:
        return self.repo.listed(username, include_revoked=include_revoked)

    def revoke(self, key_id: str, by: str) -> tuple[ApiKeyRow, bool]:
        """Revoke a key: (its row, whether this call revoked it; False when it was
        revoked already). An unknown id raises :class:`NotFoundError`."""
        row, changed = self.repo.revoke(key_id, by, int(self._clock() * 1000))
        if row is None:
            raise NotFoundError(f"no API key {key_id[:40]!r} (see quantdesk keys list)")
        with self._lock:  # this process stops accepting it at once
            for digest, (cached, _) in list(self._cache.items()):
                if cached is not None and cached.id == row.id:
                    del self._cache[digest]
        return row, changed

    # -- checking a key ---------------------------------------------------------------

    def cached(self, key: str) -> tuple[bool, ApiKeyRow | None]:
        """(found in the cache, the active key's row or None): no database access."""
        digest = hash_key(key)
        entry = self._cache.get(digest)
        if entry is None or entry[1] < self._clock():
            return False, None
        return True, entry[0]

    def lookup(self, key: str) -> ApiKeyRow | None:
        """The active key's row, or None (unknown, malformed or revoked key).

        Reads the database unless a fresh answer is cached.
        """
        hit, row = self.cached(key)
        if hit:
            return row
        digest = hash_key(key)
        key_id = key_id_of(key)
        found = self.repo.get(key_id) if key_id else None
        if found is not None and not (found.active and hmac.compare_digest(found.key_hash, digest)):
            found = None
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[digest] = (found, self._clock() + self.cache_seconds)
            if found is not None and found.last_used_ms is not None:
                seen = found.last_used_ms / 1000
                if seen > self._touched.get(found.id, 0.0):
                    self._touched[found.id] = seen
        return found

    def due_touch(self, row: ApiKeyRow) -> bool:
        """True (once per :data:`TOUCH_SECONDS`) when ``last_used`` should be written now."""
        now = self._clock()
        with self._lock:
            if now - self._touched.get(row.id, 0.0) < self.touch_seconds:
                return False
            self._touched[row.id] = now
        return True

    def touch(self, row: ApiKeyRow) -> None:
        """Write ``last_used`` = now for ``row`` (call when :meth:`due_touch` said so)."""
        self.repo.touch([row.id], int(self._clock() * 1000))


def principal_of(row: ApiKeyRow) -> Principal:
    """Who a key's request acts as: the key's user, with the key's scope."""
    role = "admin" if row.scope == "admin" else "guest"
    return Principal(row.username, role, scope=row.scope, key_id=row.id)


def create_key(
    store: Any,
    keys: ApiKeys,
    username: str,
    scope: str,
    *,
    name: str = "",
    by: str,
    client: str,
    detail: Mapping[str, Any] | None = None,
) -> NewKey:
    """Create a key for ``username`` (a user of ``store``) and audit it (``key.create``).

    Raises :class:`NotFoundError` naming the users for an unknown user, and
    :class:`DataError` as :meth:`ApiKeys.create` does.
    """
    user = store.get_user(username)
    if user is None:
        names = ", ".join(u.username for u in store.list_users()) or "none"
        raise NotFoundError(f"no user {username!r} (users: {names})")
    new = keys.create(user.username, scope, role=user.role, name=name, by=by)
    what = {"key_id": new.row.id, "owner": user.username, "scope": scope, "name": name}
    audit(keys.repo.engine, "key.create", user=by, client=client, detail={**what, **(detail or {})})
    return new


def revoke_key(
    keys: ApiKeys,
    key_id: str,
    *,
    by: str,
    client: str,
    detail: Mapping[str, Any] | None = None,
) -> ApiKeyRow:
    """Revoke a key and audit it (``key.revoke``; nothing when it was revoked already)."""
    row, changed = keys.revoke(key_id, by)
    if changed:
        what = {"key_id": row.id, "owner": row.username, "scope": row.scope}
        audit(
            keys.repo.engine,
            "key.revoke",
            user=by,
            client=client,
            detail={**what, **(detail or {})},
        )
    return row
