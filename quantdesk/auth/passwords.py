"""argon2id password hashes (argon2-cffi)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from quantdesk.config import Settings

__all__ = ["PasswordHasher", "make_hasher", "verify"]


def make_hasher(settings: Settings) -> PasswordHasher:
    """A hasher with the configured cost (defaults: argon2-cffi's RFC 9106 low-memory profile)."""
    return PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
    )


def verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises on a wrong or malformed hash."""
    try:
        return bool(hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False
