"""Every route x every role, over real HTTP: the decision each route's declared action implies.

The route list is read from the real app, so a route added later by anyone is checked too: it must
either declare its action (`Depends(require(...))`) or be one of `auth.PUBLIC_PATHS`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from shipyard import auth
from shipyard.api import openai
from shipyard.api.app import create_app
from shipyard.config import Settings
from tests.controls.conftest import admin, make_key
from tests.helpers import ShipyardServer

ROLES = ("admin", "developer", "viewer", "service")


def _action_of(dependant: Any) -> str | None:
    for dep in dependant.dependencies:
        action = getattr(dep.call, "action", None)
        if action is not None:
            return action
        found = _action_of(dep)
        if found is not None:
            return found
    return None


def _flatten(routes: list[Any]) -> list[tuple[str, Any, Any]]:
    """(path, route, dependant) for every route, through included routers (FastAPI >= 0.165 nests them)."""
    out = []
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for ctx in contexts():
                original = ctx.original_route
                dependant = getattr(ctx, "dependant", None) or getattr(original, "dependant", None)
                out.append((ctx.path or getattr(original, "path", ""), original, dependant))
        else:
            out.append((getattr(route, "path", ""), route, getattr(route, "dependant", None)))
    return out


def declared_routes(tmp_path: Path) -> list[tuple[str, str, str | None]]:
    """(method, path, action) for every route of the real app; action None for public routes."""
    app = create_app(Settings(data_dir=tmp_path, include_bundled_models=False))
    out = [(method, path, "models:call") for method, path in openai.FAST_ROUTES]
    for path, route, dependant in _flatten(app.routes):
        if isinstance(route, APIRoute) and dependant is not None:
            action = _action_of(dependant)
        elif isinstance(route, Route) and route.endpoint in (openai.list_models, openai.get_model):
            action = "models:call"
        else:
            action = None
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method == "HEAD":
                continue
            out.append((method, path, action))
    assert len(out) > 20 and all(p for _m, p, _a in out), out
    return out


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "zz-nope-1", path)


def test_the_role_table_says_what_the_issue_says() -> None:
    """The table itself, spelled out: these expectations are independent of how it is written."""
    assert auth.allowed("admin", "keys:write") and auth.allowed("admin", "anything:new")
    for role in ("developer", "viewer", "service"):
        for action in ("keys:read", "keys:write", "audit:read", "projects:write", "admin", "brandnew:read"):
            assert not auth.allowed(role, action), (role, action)
    for area in ("prompts", "chains", "datasets", "evals", "collections", "traces", "guard", "finetune"):
        assert auth.allowed("developer", f"{area}:write") and auth.allowed("developer", f"{area}:read")
        assert auth.allowed("viewer", f"{area}:read") and not auth.allowed("viewer", f"{area}:write")
        assert not auth.allowed("service", f"{area}:read")
    assert auth.allowed("service", "models:call") and auth.allowed("developer", "models:call")
    assert not auth.allowed("viewer", "models:call")
    assert not auth.allowed("developer", "deployments:write") and auth.allowed("viewer", "deployments:read")


def test_every_route_for_every_role(controlled: ShipyardServer, tmp_path: Path) -> None:
    routes = declared_routes(tmp_path)
    undeclared = [(m, p) for m, p, a in routes if a is None and not p.startswith(auth.PUBLIC_PATHS)]
    assert not undeclared, f"routes without a declared action (add Depends(require(...))): {undeclared}"
    keys = {"admin": admin()["Authorization"].split()[1]}
    for role in ROLES[1:]:
        keys[role] = make_key(controlled.url, name=f"matrix-{role}", role=role)["key"]
    checked = 0
    with httpx.Client(base_url=controlled.url, timeout=60) as client:
        for method, path, action in routes:
            if action is None:
                continue
            url = concrete(path)
            # no key, a malformed header, an unknown key: always 401, whatever the route
            for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer sk-shp-unknown"}):
                r = client.request(method, url, headers=headers, content=b"[]")
                if path.startswith("/ui"):  # a person in a browser is sent to the login page instead
                    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login"), (method, path)
                    continue
                assert r.status_code == 401, (method, path, headers, r.status_code, r.text)
                assert r.json()["error"]["type"] == "authentication_error"
            for role in ROLES:
                r = client.request(method, url, headers={"Authorization": f"Bearer {keys[role]}"}, content=b"[]")
                if auth.allowed(role, action):
                    assert r.status_code not in (401, 403), (role, method, path, action, r.text)
                else:
                    assert r.status_code == 403, (role, method, path, action, r.status_code, r.text)
                    assert action in r.json()["error"]["message"]
                checked += 1
    assert checked >= 4 * 20


@pytest.mark.parametrize("path", ["/health"])
def test_public_routes_need_no_key(controlled: ShipyardServer, path: str) -> None:
    assert httpx.get(controlled.url + path).status_code == 200
