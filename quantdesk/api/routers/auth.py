"""``POST /api/auth/token`` (OAuth2 password form) and ``GET /api/auth/me``."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request

from quantdesk.api.auditing import audit_api
from quantdesk.api.security import User
from quantdesk.auth import LoginLimiter, TokenService, authenticate

router = APIRouter(tags=["auth"])
audit = logging.getLogger("quantdesk.audit")


@router.post("/api/auth/token")
async def token(
    request: Request,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(max_length=256)],
) -> dict[str, Any]:
    """Log in: ``{"access_token": "...", "token_type": "bearer", "expires_in": s, "role": r}``.

    A wrong username or password gets 401; more than
    ``QUANTDESK_LOGIN_ATTEMPTS_PER_MINUTE`` failures per username and client
    address, or ``QUANTDESK_LOGIN_ATTEMPTS_PER_USER_PER_MINUTE`` per username
    over all addresses, in a minute get 429 with ``Retry-After`` (an attempt
    counts from the moment it is let through, so concurrent ones cannot
    slip past the check).
    """
    state = request.app.state
    limiter: LoginLimiter = state.login_limiter
    # the socket's peer, or the forwarded client when the peer is a proxy named in
    # QUANTDESK_FORWARDED_ALLOW_IPS (uvicorn rewrites it; nobody else can)
    client = request.client.host if request.client else "?"
    wait = limiter.acquire(username, client)  # checked and counted in one step
    if wait:
        audit.warning("audit action=login.limited user=%r client=%s", username, client)
        await _record(request, "login.limited", username, {"retry_after": wait})
        raise HTTPException(
            429,
            f"too many failed logins for {username!r}: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    # argon2 takes tens of milliseconds on purpose: keep it off the event loop
    user = await asyncio.to_thread(authenticate, state.store, state.hasher, username, password)
    if user is None:
        audit.warning("audit action=login.failed user=%r client=%s", username, client)
        await _record(request, "login.failed", username)
        raise HTTPException(
            401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    limiter.succeeded(username, client)
    audit.info("audit action=login user=%s role=%s client=%s", user.username, user.role, client)
    await _record(request, "login", user.username, {"role": user.role})
    tokens: TokenService = state.tokens
    return {
        "access_token": tokens.issue(user.username, user.role),
        "token_type": "bearer",
        "expires_in": tokens.expire_s,
        "role": user.role,
    }


async def _record(
    request: Request, action: str, username: str, detail: dict[str, Any] | None = None
) -> None:
    """The audit row of a login attempt (the log line above is the caller's own)."""
    await asyncio.to_thread(audit_api, request, username, action, detail, log_line=False)


@router.get("/api/auth/me")
def me(user: User) -> dict[str, Any]:
    """Who the token (or API key) belongs to: username, role and scope (read, trade or
    admin), plus ``api_key`` (the key id) when the caller used a key."""
    out: dict[str, Any] = {
        "username": user.username,
        "role": user.role,
        "scope": user.effective_scope,
    }
    if user.key_id is not None:
        out["api_key"] = user.key_id
    return out
