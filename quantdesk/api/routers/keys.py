"""``/api/keys``: an admin creates, lists and revokes users' API keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from quantdesk.api.auditing import caller_detail, client_of
from quantdesk.api.security import Admin
from quantdesk.auth.apikeys import MAX_NAME, ApiKeys, create_key, revoke_key

router = APIRouter(tags=["auth"])

KeyId = Annotated[str, Path(min_length=1, max_length=40, description="the key's id (12 hex)")]


class KeyBody(BaseModel):
    """A new key: whose, which scope, an optional label."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"user": "test", "scope": "read", "name": "notebook"}},
    )

    user: str = Field(min_length=1, max_length=64)
    scope: Literal["read", "trade", "admin"]
    name: str = Field("", max_length=MAX_NAME)


def _keys(request: Request) -> ApiKeys:
    keys: ApiKeys = request.app.state.apikeys
    return keys


@router.get("/api/keys")
def list_keys(
    request: Request,
    admin: Admin,
    user: Annotated[str | None, Query(max_length=64, description="only this user's keys")] = None,
    revoked: Annotated[bool, Query(description="include revoked keys")] = False,
) -> list[dict[str, Any]]:
    """API keys (never the keys themselves): id, user, scope, name, created, revoked, last
    used (written at most once a minute)."""
    return [r.public() for r in _keys(request).listed(user or None, include_revoked=revoked)]


@router.post("/api/keys", status_code=201)
def create(request: Request, body: KeyBody, admin: Admin) -> dict[str, Any]:
    """Create a key for a user (admin). The answer's ``key`` is shown this once: only its
    hash is stored. An admin-scope key needs a user with role admin (400)."""
    new = create_key(
        request.app.state.store,
        _keys(request),
        body.user,
        body.scope,
        name=body.name,
        by=admin.username,
        client=client_of(request),
        detail=caller_detail(admin),
    )
    return {"key": new.key, **new.row.public()}


@router.delete("/api/keys/{key_id}", status_code=204, response_class=Response)
def revoke(request: Request, key_id: KeyId, admin: Admin) -> Response:
    """Revoke a key (admin): it gets 401 from now on. 404 for an unknown id; revoking a
    revoked key changes nothing."""
    revoke_key(
        _keys(request),
        key_id,
        by=admin.username,
        client=client_of(request),
        detail=caller_detail(admin),
    )
    return Response(status_code=204)
