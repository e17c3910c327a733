"""Prompts: the registry list, a prompt's versions and diffs, and a playground that renders a version with
variables and runs it on a chosen model, optionally two versions side by side."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from shipyard.auth import Principal, require
from shipyard.errors import ShipyardError
from shipyard.prompts import template
from shipyard.prompts.service import prompts_of
from shipyard.prompts.service import run as run_prompt
from shipyard.ui.frame import render

router = APIRouter(prefix="/ui/prompts", include_in_schema=False)
NAV = [("Prompts", "/ui/prompts")]
ORDER = 30


@router.get("", response_class=HTMLResponse)
def prompt_list(request: Request, search: str | None = None,
                principal: Principal = Depends(require("prompts:read"))) -> HTMLResponse:
    rows = prompts_of(request.app.state.platform).registry.list(principal.project_id, search)
    return render(request, "prompts/list.html", title="Prompts", prompts=rows, search=search or "")


def _page(request: Request, principal: Principal, name: str, *, a: str | None = None, b: str | None = None,
          form: dict[str, Any] | None = None, results: list[dict[str, Any]] | None = None,
          error: str | None = None) -> HTMLResponse:
    platform = request.app.state.platform
    registry = prompts_of(platform).registry
    versions = registry.versions(principal.project_id, name)
    diff = None
    if a and b:
        try:
            diff = registry.diff(principal.project_id, name, a, b)
        except ShipyardError as exc:
            error = exc.message
    form = form or {"version": str(versions[0].version), "compare": "", "model": versions[0].spec.get("model") or "",
                    "vars": {}}
    selected = next((v for v in versions if str(v.version) == form["version"]), versions[0])
    return render(request, "prompts/detail.html", title=f"Prompt {name}", name=name, versions=versions, diff=diff,
                  a=a or "", b=b or "", form=form, selected=selected, results=results or [], error=error,
                  models=[m["id"] for m in platform.registry.list()])


@router.get("/{name}", response_class=HTMLResponse)
def prompt_detail(request: Request, name: str, a: str | None = None, b: str | None = None,
                  principal: Principal = Depends(require("prompts:read"))) -> HTMLResponse:
    return _page(request, principal, name, a=a, b=b)


def _variables(spec: dict[str, Any], raw: dict[str, str]) -> dict[str, Any]:
    """Form text to values: strings as typed, anything else read as JSON; blank means not given (the default)."""
    out: dict[str, Any] = {}
    for var, decl in spec.get("variables", {}).items():
        text = raw.get(var, "")
        if text == "":
            continue
        if decl["type"] in ("string", "any") and not (decl["type"] == "any" and text[:1] in "[{"):
            out[var] = text
            continue
        try:
            out[var] = json.loads(text)
        except ValueError:
            out[var] = text  # the type check names the variable
    return out


async def _playground(request: Request, name: str, principal: Principal, run: bool) -> HTMLResponse:
    platform = request.app.state.platform
    data = await request.form()
    form = {"version": str(data.get("version") or ""), "compare": str(data.get("compare") or ""),
            "model": str(data.get("model") or ""),
            "vars": {k[4:]: str(v) for k, v in data.items() if k.startswith("var_")}}
    registry = prompts_of(platform).registry
    results = []
    for ref in [form["version"], form["compare"]]:
        if not ref:
            continue
        entry: dict[str, Any] = {"version": ref}
        try:
            version = registry.get(principal.project_id, name, ref)
            entry["version"] = version.version
            values = _variables(version.spec, form["vars"])
            entry["messages"] = template.as_messages(template.render(version.spec, values, f"v{version.version}"))
            if run:
                answer = await run_prompt(platform, name, version.version, values, principal,
                                          model=form["model"] or None)
                entry["answer"] = answer["choices"][0]["message"].get("content") or ""
                entry["usage"] = answer.get("usage") or {}
        except ShipyardError as exc:
            entry["error"] = exc.message
        results.append(entry)
    return _page(request, principal, name, form=form, results=results)


@router.post("/{name}/render", response_class=HTMLResponse)
async def playground_render(request: Request, name: str,
                            principal: Principal = Depends(require("prompts:read"))) -> HTMLResponse:
    return await _playground(request, name, principal, run=False)


@router.post("/{name}/run", response_class=HTMLResponse)
async def playground_run(request: Request, name: str,
                         principal: Principal = Depends(require("models:call"))) -> HTMLResponse:
    return await _playground(request, name, principal, run=True)
