"""`/api/prompts`: the prompt registry (versions, labels, diff, import/export), rendering, and a playground run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from shipyard.auth import Principal, require
from shipyard.platform import Platform
from shipyard.prompts import registry as registry_module
from shipyard.prompts.routes import add_registry_routes
from shipyard.prompts.service import prompts_of, to_document

router = APIRouter(prefix="/api/prompts", tags=["prompts"])


async def startup(platform: Platform) -> None:
    registry_module.listen(platform)


class RenderBody(BaseModel):
    version: int | str | None = Field(None, description="version number, label, or latest (default)")
    label: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)


class RunBody(RenderBody):
    model: str | None = Field(None, description="another model than the version's")
    params: dict[str, Any] = Field(default_factory=dict, description="temperature, max_tokens: win over the version")


# Declared before the shared routes so `/{name}/render` is not taken for a name.
@router.post("/{name}/render")
def render(request: Request, name: str, body: RenderBody,
           principal: Principal = Depends(require("prompts:read"))) -> dict[str, Any]:
    version, rendered = prompts_of(request.app.state.platform).render(
        principal.project_id, name, body.version if body.version is not None else body.label, body.variables,
        cached=False)
    return {"object": "prompt.rendered", "name": name, "version": version.version, "model": version.spec.get("model"),
            "params": version.spec.get("params") or {}, **rendered}


@router.post("/{name}/run")
async def run(request: Request, name: str, body: RunBody,
              principal: Principal = Depends(require("models:call"))) -> dict[str, Any]:
    """The playground: render a version and call a model with it, through the gateway (traced)."""
    from shipyard.prompts.service import run as run_prompt

    platform = request.app.state.platform
    ref = body.version if body.version is not None else body.label
    return await run_prompt(platform, name, ref, body.variables, principal, model=body.model, **body.params)


def _push(platform: Platform, project_id: str, doc: dict[str, Any], author: str | None) -> Any:
    return prompts_of(platform).push(project_id, doc, author=author)


add_registry_routes(router, "prompts", lambda platform: prompts_of(platform).registry, _push, to_document)
