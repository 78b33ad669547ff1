"""Seed B's users on first start, and password checks."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Final

from quantdesk.auth.passwords import PasswordHasher, verify
from quantdesk.config import Settings
from quantdesk.storage.base import Store, UserRow

log = logging.getLogger("quantdesk.auth")

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
    and printed once here (it is stored only as a hash: note it down).
    """
    created: list[str] = []
    for username, role, field in DEFAULT_USERS:
        if store.get_user(username) is not None:
            continue
        given = getattr(settings, field).get_secret_value()
        password = given or secrets.token_urlsafe(12)
        if store.add_user(username, hasher.hash(password), role):
            created.append(username)
            if given:
                echo(f"Created user {username!r} ({role}) with QUANTDESK_{field.upper()}")
            else:
                echo(
                    f"Created user {username!r} ({role}) with generated password: {password}  "
                    f"(shown once; set QUANTDESK_{field.upper()} to choose it)"
                )
    return created


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
