"""FastAPI dependencies for the auth model (see :mod:`quantdesk.api.app`).

Who is calling is settled once per request by the gate
(:mod:`quantdesk.api.gate`: a bearer token or an ``X-API-Key``); these
dependencies decide what the caller may do, with the same rules for tokens
and keys:

=================  ====================================  =========================
dependency         lets through                          else
=================  ====================================  =========================
``User``           any valid token or key                401
``Trader``         admin token; key with scope trade     401 / 403
                   or admin
``Admin``          admin token; key with scope admin     401 / 403
=================  ====================================  =========================
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from starlette.websockets import WebSocket

from quantdesk.api.gate import PRINCIPAL
from quantdesk.auth import Principal, TokenError, TokenService
from quantdesk.auth.apikeys import PREFIX, ApiKeys, principal_of

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key (quantdesk keys create)"
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def current_user(
    request: Request,
    token: Annotated[str | None, Depends(oauth2)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """Any valid token or API key; 401 otherwise."""
    state = request.scope.get("state") or {}
    if PRINCIPAL in state:  # settled by the gate
        principal: Principal | None = state[PRINCIPAL]
    elif token:  # an app without the gate (kept for embedding): verify here
        tokens: TokenService = request.app.state.tokens
        try:
            principal = tokens.verify(token)
        except TokenError as exc:
            raise HTTPException(401, str(exc), headers=_CHALLENGE) from None
    else:
        principal = None
    if principal is None:
        raise HTTPException(
            401,
            "not authenticated: send 'Authorization: Bearer <token>' "
            "(get one from POST /api/auth/token) or 'X-API-Key: <key>'",
            headers=_CHALLENGE,
        )
    return principal


def _who(user: Principal) -> str:
    if user.key_id is not None:
        return f"API key {user.key_id} of {user.username!r} has scope {user.scope}"
    return f"user {user.username!r} has role {user.role}"


def require_trade(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    """May place orders: an admin, or an API key with scope trade; 403 otherwise."""
    if not user.can_trade:
        raise HTTPException(403, f"{_who(user)} (read only); this needs scope trade or admin")
    return user


def require_admin(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    """An admin token or an admin-scope key; 403 otherwise."""
    if not user.is_admin:
        if user.key_id is None:
            raise HTTPException(
                403, f"user {user.username!r} has role guest (read only); this needs role admin"
            )
        raise HTTPException(403, f"{_who(user)}; this needs scope admin")
    return user


def ws_principal(ws: WebSocket, token: str | None) -> Principal | None:
    """The caller of a WebSocket: a token, or an API key given in the token's place
    (``?token=<key>`` or a first message ``{"token": "<key>"}``)."""
    if not token:
        return None
    if token.startswith(PREFIX):
        keys: ApiKeys | None = getattr(ws.app.state, "apikeys", None)
        row = keys.lookup(token) if keys is not None else None
        return principal_of(row) if row is not None else None
    tokens: TokenService = ws.app.state.tokens
    try:
        return tokens.verify(token)
    except TokenError:
        return None


User = Annotated[Principal, Depends(current_user)]
Trader = Annotated[Principal, Depends(require_trade)]
Admin = Annotated[Principal, Depends(require_admin)]
