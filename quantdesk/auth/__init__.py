"""Authentication: users and roles, argon2 password hashes, JWT access tokens.

Roles: ``admin`` (read and change) and ``guest`` (read only). Seed B's users
``admin`` (admin), ``guest`` and ``test`` (guest) are created on first start
with passwords from ``QUANTDESK_ADMIN_PASSWORD`` / ``QUANTDESK_GUEST_PASSWORD``
/ ``QUANTDESK_TEST_PASSWORD``, or generated and printed once. Tokens are
HS256 JWTs signed with ``QUANTDESK_JWT_SECRET`` (random per process if unset).
Framework-free: the FastAPI wiring lives in :mod:`quantdesk.api.security`.
"""

from quantdesk.auth.passwords import PasswordHasher, make_hasher
from quantdesk.auth.ratelimit import LoginLimiter
from quantdesk.auth.tokens import ROLES, Principal, TokenError, TokenService
from quantdesk.auth.users import DEFAULT_USERS, authenticate, ensure_default_users

__all__ = [
    "DEFAULT_USERS",
    "ROLES",
    "LoginLimiter",
    "PasswordHasher",
    "Principal",
    "TokenError",
    "TokenService",
    "authenticate",
    "ensure_default_users",
    "make_hasher",
]
