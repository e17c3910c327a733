"""Who is calling, and what they may do.

`Principal` is the caller as every capability sees it. Routes declare the action they perform with
`Depends(require("prompts:write"))`; the decision itself is made in `authorize()`, one place for the
whole platform, from the `ROLES` table below. Until the first API key exists the platform is open and
every caller is the local admin of the `default` project (what an embedded single-user install
wants); from then on every route but the public ones needs a key (`Authorization: Bearer`,
`x-api-key`, or the dashboard's `shipyard_key` cookie). Keys are checked against an in-memory copy
(`controls.keys.KeyCache`), never the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from shipyard.errors import PermissionDenied

DEFAULT_PROJECT = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    project_id: str
    role: str  # admin | developer | viewer | service
    key_id: str | None = None
    models: tuple[str, ...] | None = None  # None: every model


LOCAL_ADMIN = Principal(project_id=DEFAULT_PROJECT, role="admin")

# Areas whose records a developer reads and writes; everything readable is listed in READ_AREAS.
DEVELOPER_AREAS = ("prompts", "chains", "datasets", "evals", "collections", "traces", "guard", "finetune")
READ_AREAS = DEVELOPER_AREAS + ("requests", "deployments", "prices", "spend", "models")
# role -> the actions it may perform. "admin" may do everything; an action in no set (a new area,
# keys, audit, projects, "admin") is therefore admin-only until someone adds it here.
ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset({"*"}),
    "developer": frozenset({"models:call", "me:read", *(f"{a}:read" for a in READ_AREAS),
                            *(f"{a}:write" for a in DEVELOPER_AREAS)}),
    "viewer": frozenset({"me:read", *(f"{a}:read" for a in READ_AREAS)}),
    "service": frozenset({"models:call", "me:read"}),
}
# Routes that never need a key: liveness/readiness, the API schema, the dashboard's login and assets.
PUBLIC_PATHS = ("/health", "/ready", "/docs", "/openapi.json", "/ui/login", "/ui/logout", "/ui/static", "/favicon.ico")


def allowed(role: str, action: str) -> bool:
    actions = ROLES.get(role)
    return actions is not None and ("*" in actions or action in actions)


def check(principal: Principal, action: str) -> Principal:
    if not allowed(principal.role, action):
        raise PermissionDenied(f"a {principal.role} key may not perform '{action}'", code="permission_denied")
    return principal


def authorize(request: Request, action: str) -> Principal:
    """The single authorization decision for every route."""
    keys = request.scope["app"].state.platform.services.get("keys")
    if keys is None or keys.open:
        return LOCAL_ADMIN
    return check(keys.authenticate(request), action)


def require(action: str) -> Callable[[Request], Any]:
    """A FastAPI dependency: `principal: Principal = Depends(require("traces:read"))`."""

    def dependency(request: Request) -> Principal:
        return authorize(request, action)

    dependency.__name__ = f"require_{action.replace(':', '_')}"
    dependency.action = action  # type: ignore[attr-defined]  # read by the route x role matrix test
    return dependency
