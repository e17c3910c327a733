"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Ready when the store answers and every configured model's files or upstream config are there."""
    platform = request.app.state.platform
    checks: dict[str, Any] = {"store": "ok" if platform.store.ping() else "unreachable", "models": {}}
    ok = checks["store"] == "ok"
    for name, provider in platform.registry.providers.items():
        try:
            await provider.check()
            checks["models"][name] = "ok"
        except Exception as exc:
            checks["models"][name] = str(exc)
            ok = False
    checks["status"] = "ready" if ok else "not_ready"
    return JSONResponse(checks, status_code=200 if ok else 503)
