"""Who is calling, and what they may do.

`Principal` is the caller as every capability sees it. Routes declare the action they perform with
`Depends(require("prompts:write"))`; the decision itself is made in `authorize()`, one place for the
whole platform. Until API keys exist (the gateway-controls work), every caller is the local admin of
the `default` project, which is what an embedded single-user install wants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

DEFAULT_PROJECT = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    project_id: str
    role: str  # admin | developer | viewer | service
    key_id: str | None = None
    models: tuple[str, ...] | None = None  # None: every model


LOCAL_ADMIN = Principal(project_id=DEFAULT_PROJECT, role="admin")


def authorize(request: Request, action: str) -> Principal:
    """The single authorization decision for every route."""
    return LOCAL_ADMIN


def require(action: str) -> Callable[[Request], Any]:
    """A FastAPI dependency: `principal: Principal = Depends(require("traces:read"))`."""

    def dependency(request: Request) -> Principal:
        return authorize(request, action)

    dependency.__name__ = f"require_{action.replace(':', '_')}"
    return dependency
