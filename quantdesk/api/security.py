"""FastAPI dependencies for the auth model (see :mod:`quantdesk.api.app`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.websockets import WebSocket

from quantdesk.auth import Principal, TokenError, TokenService

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def current_user(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """Any valid token (admin or guest); 401 otherwise."""
    if not token:
        raise HTTPException(
            401,
            "not authenticated: send 'Authorization: Bearer <token>' "
            "(get one from POST /api/auth/token)",
            headers=_CHALLENGE,
        )
    tokens: TokenService = request.app.state.tokens
    try:
        return tokens.verify(token)
    except TokenError as exc:
        raise HTTPException(401, str(exc), headers=_CHALLENGE) from None


def require_admin(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    """An admin token; 403 for a guest."""
    if not user.is_admin:
        raise HTTPException(
            403, f"user {user.username!r} has role guest (read only); this needs role admin"
        )
    return user


def ws_principal(ws: WebSocket, token: str | None) -> Principal | None:
    if not token:
        return None
    tokens: TokenService = ws.app.state.tokens
    try:
        return tokens.verify(token)
    except TokenError:
        return None


User = Annotated[Principal, Depends(current_user)]
Admin = Annotated[Principal, Depends(require_admin)]
