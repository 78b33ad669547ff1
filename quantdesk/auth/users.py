"""Seed B's users on first start, and password checks."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Final

from quantdesk.auth.passwords import PasswordHasher, verify
from quantdesk.config import Settings
from quantdesk.errors import DataError, NotFoundError
from quantdesk.storage.base import Store, UserRow

log = logging.getLogger("quantdesk.auth")
audit = logging.getLogger("quantdesk.audit")

#: (username, role, the setting holding its initial password)
DEFAULT_USERS: Final = (
    ("admin", "admin", "admin_password"),
    ("guest", "guest", "guest_password"),
    ("test", "guest", "test_password"),
)

# A real hash to verify against for unknown users, so a wrong username takes as
# long as a wrong password (no user enumeration by timing).
_DUMMY: dict[int, str] = {}


def ensure_default_users(
    store: Store, settings: Settings, hasher: PasswordHasher, echo: Callable[[str], None] = print
) -> list[str]:
    """Create the missing default users; return the names created.

    A password comes from its ``QUANTDESK_*_PASSWORD`` setting, or is generated
    and printed once here (it is stored only as a hash: note it down). The
    variables only act at creation: when one is set for a user that exists
    with another password, this says once that it is ignored and names
    ``quantdesk users set-password`` (the way to change a password).
    """
    created: list[str] = []
    for username, role, field in DEFAULT_USERS:
        given = getattr(settings, field).get_secret_value()
        existing = store.get_user(username)
        if existing is not None:
            if given and not verify(hasher, existing.password_hash, given):
                echo(
                    f"QUANTDESK_{field.upper()} is ignored: user {username!r} exists with "
                    f"another password; change it with `quantdesk users set-password {username}`"
                )
            continue
        password = given or secrets.token_urlsafe(12)
        if store.add_user(username, hasher.hash(password), role):
            created.append(username)
            if given:
                echo(f"Created user {username!r} ({role}) with QUANTDESK_{field.upper()}")
            else:
                echo(
                    f"Created user {username!r} ({role}) with generated password: {password}  "
                    f"(shown once; change it with `quantdesk users set-password {username}`)"
                )
    return created


MIN_PASSWORD = 8
MAX_PASSWORD = 256  # the login form's limit


def set_password(
    store: Store,
    hasher: PasswordHasher,
    username: str,
    password: str,
    *,
    by: str = "",
    client: str = "",
) -> None:
    """Replace ``username``'s password (stored as an argon2id hash).

    Raises :class:`~quantdesk.errors.NotFoundError` (naming the users) for an
    unknown user and :class:`~quantdesk.errors.DataError` for a password
    shorter than :data:`MIN_PASSWORD` or longer than :data:`MAX_PASSWORD`
    characters. Tokens already issued stay valid until they expire. The change is
    audited (``user.set_password`` by ``by``, default the user, from ``client``).
    """
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise DataError(
            f"password: use {MIN_PASSWORD} to {MAX_PASSWORD} characters (got {len(password)})"
        )
    if store.get_user(username) is None:
        names = ", ".join(u.username for u in store.list_users()) or "none"
        raise NotFoundError(f"no user {username!r} (users: {names})")
    if not store.set_password_hash(username, hasher.hash(password)):
        raise NotFoundError(f"no user {username!r}")
    from quantdesk.storage.audit import audit as record

    # an audit row (who changed whose password, from where) and its log line
    record(store, "user.set_password", user=by or username, client=client, detail={"of": username})


def authenticate(
    store: Store, hasher: PasswordHasher, username: str, password: str
) -> UserRow | None:
    """The user when ``password`` is right, else None."""
    user = store.get_user(username)
    if user is None:
        key = id(hasher)
        if key not in _DUMMY:
            _DUMMY[key] = hasher.hash(secrets.token_urlsafe(12))
        verify(hasher, _DUMMY[key], password)
        return None
    return user if verify(hasher, user.password_hash, password) else None
