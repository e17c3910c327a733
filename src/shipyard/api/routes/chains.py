"""`/api/chains`: the chain registry, the built-in library, runs (JSON or streamed as SSE) and run history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from shipyard.auth import Principal, require
from shipyard.chains.runner import run_chain, run_spec
from shipyard.chains.service import chains_of, library, to_document
from shipyard.errors import ShipyardError
from shipyard.platform import Platform
from shipyard.prompts.routes import add_registry_routes

router = APIRouter(prefix="/api/chains", tags=["chains"])


class RunBody(BaseModel):
    inputs: dict[str, Any] = Field(default_factory=dict)
    version: int | str | None = Field(None, description="version number, label, or latest (default)")
    label: str | None = None
    stream: bool = Field(False, description="server-sent events: step, delta (the final step's text), done, error")


class InlineRunBody(BaseModel):
    spec: dict[str, Any]
    inputs: dict[str, Any] = Field(default_factory=dict)
    stream: bool = False


class InstallBody(BaseModel):
    name: str | None = Field(None, description="register it under another name")


def _sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data, default=str) + b"\n\n"


def _stream(start: Any) -> StreamingResponse:
    """Run in a task, relaying its events; a failure becomes a final `error` event (headers are sent)."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def emit(event: dict[str, Any]) -> None:
        await queue.put(_sse(event.pop("event"), event))

    async def work() -> None:
        try:
            result = await start(emit)
            await queue.put(_sse("done", result))
        except ShipyardError as exc:
            await queue.put(_sse("error", exc.body()))
        except Exception as exc:  # never a bare disconnect: the client hears why
            await queue.put(_sse("error", ShipyardError(f"the run failed: {exc.__class__.__name__}").body()))
        finally:
            await queue.put(None)

    async def relay() -> AsyncIterator[bytes]:
        task = asyncio.create_task(work())
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            if not task.done():
                task.cancel()

    return StreamingResponse(relay(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


@router.get("/library")
def list_library(principal: Principal = Depends(require("chains:read"))) -> dict[str, Any]:
    return {"object": "list", "data": [{"name": n, "description": d.get("description"), "inputs": d.get("inputs"),
                                        "steps": [s.get("name") for s in d.get("steps", [])]}
                                       for n, d in library().items()]}


@router.post("/library/{template}/install", status_code=201)
def install(request: Request, template: str, body: InstallBody | None = None,
            principal: Principal = Depends(require("chains:write"))) -> dict[str, Any]:
    version, created = chains_of(request.app.state.platform).install(
        principal.project_id, template, name=body.name if body else None, author=principal.key_id)
    return {**version.describe(), "created": created}


@router.get("/runs")
def list_runs(request: Request, chain: str | None = None, status: str | None = None,
              limit: int = Query(50, ge=1, le=500), principal: Principal = Depends(require("chains:read"))) -> Any:
    data = chains_of(request.app.state.platform).runs(principal.project_id, chain, status, limit)
    return {"object": "list", "data": data}


@router.get("/runs/{run_id}")
def get_run(request: Request, run_id: str, principal: Principal = Depends(require("chains:read"))) -> dict[str, Any]:
    return chains_of(request.app.state.platform).get_run(principal.project_id, run_id)


@router.post("/run")
async def run_inline(request: Request, body: InlineRunBody,
                     principal: Principal = Depends(require("chains:write"))) -> Any:
    """Run a spec that is not in the registry (drafting a chain, an evaluation of a variant)."""
    platform = request.app.state.platform

    def start(emit: Any = None) -> Any:
        return run_spec(platform, body.spec, body.inputs, principal, name=str(body.spec.get("name") or "inline"),
                        emit=emit)

    if body.stream:
        from shipyard.chains import spec as chain_spec

        chain_spec.compile_spec(body.spec)  # a bad spec is a plain 400, not an event
        return _stream(start)
    return await start()


@router.post("/{name}/run")
async def run(request: Request, name: str, body: RunBody,
              principal: Principal = Depends(require("chains:write"))) -> Any:
    platform = request.app.state.platform
    ref = body.version if body.version is not None else body.label
    if body.stream:
        # Resolve the version before the stream starts, so an unknown chain is a plain 404.
        await asyncio.to_thread(chains_of(platform).registry.get, principal.project_id, name, ref, cached=True)
        return _stream(lambda emit: run_chain(platform, name, ref, body.inputs, principal, emit=emit))
    return await run_chain(platform, name, ref, body.inputs, principal)


def _push(platform: Platform, project_id: str, doc: dict[str, Any], author: str | None) -> Any:
    return chains_of(platform).push(project_id, doc, author=author)


add_registry_routes(router, "chains", lambda platform: chains_of(platform).registry, _push, to_document)
