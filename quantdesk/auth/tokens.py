"""JWT (HS256) access tokens carrying the username and role."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from functools import cache
from typing import Final

import jwt

from quantdesk.errors import TokenError as TokenError

log = logging.getLogger("quantdesk.auth")

ROLES: Final = ("admin", "guest")
_ALGORITHM: Final = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: from a verified token or API key.

    ``scope`` is ``read``, ``trade`` or ``admin`` (:mod:`quantdesk.auth.apikeys`);
    empty for a token, whose role decides (admin: everything, guest: read).
    ``key_id`` names the API key the request came with (None for a token).
    """

    username: str
    role: str
    scope: str = ""
    key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_trade(self) -> bool:
        """May place orders: an admin token or key, or a key with scope trade."""
        return self.is_admin or self.scope == "trade"

    @property
    def effective_scope(self) -> str:
        return self.scope or ("admin" if self.is_admin else "read")


@cache
def _process_secret() -> str:
    log.warning(
        "QUANTDESK_JWT_SECRET is not set: using a random per-process key; "
        "API tokens stop working when the process restarts"
    )
    return secrets.token_urlsafe(32)


class TokenService:
    """Issues and verifies access tokens."""

    def __init__(self, secret: str, expire_minutes: int = 60) -> None:
        self.secret = secret or _process_secret()
        self.expire_s = expire_minutes * 60

    def issue(self, username: str, role: str, now: float | None = None) -> str:
        iat = int(time.time() if now is None else now)
        claims = {"sub": username, "role": role, "iat": iat, "exp": iat + self.expire_s}
        return jwt.encode(claims, self.secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired: log in again at /api/auth/token") from None
        except jwt.PyJWTError:
            raise TokenError("invalid token: log in at /api/auth/token") from None
        role = claims.get("role")
        sub = claims.get("sub")
        if role not in ROLES or not isinstance(sub, str):
            raise TokenError("invalid token: log in at /api/auth/token")
        return Principal(sub, str(role))
