"""Chains: the registered chains, the library, recent runs, and one run's steps (with where it failed)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from shipyard.auth import Principal, require
from shipyard.chains.service import chains_of, library
from shipyard.prompts.registry import dump_yaml
from shipyard.ui.frame import render

router = APIRouter(prefix="/ui/chains", include_in_schema=False)
NAV = [("Chains", "/ui/chains")]
ORDER = 35


def _pretty(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)


@router.get("", response_class=HTMLResponse)
def chain_list(request: Request, chain: str | None = None, status: str | None = None,
               principal: Principal = Depends(require("chains:read"))) -> HTMLResponse:
    service = chains_of(request.app.state.platform)
    runs = service.runs(principal.project_id, chain or None, status or None, limit=100)
    return render(request, "chains/list.html", title="Chains", chains=service.registry.list(principal.project_id),
                  runs=runs, library=library(), chain=chain or "", status=status or "")


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_detail(request: Request, run_id: str, principal: Principal = Depends(require("chains:read"))) -> HTMLResponse:
    run = chains_of(request.app.state.platform).get_run(principal.project_id, run_id)
    steps = [(name, _pretty(out)) for name, out in (run["steps"] or {}).items()]
    return render(request, "chains/run.html", title=f"Run of {run['chain']}", run=run, steps=steps,
                  inputs=_pretty(run["inputs"]), output=_pretty(run["output"]) if run["output"] is not None else None)


@router.get("/{name}", response_class=HTMLResponse)
def chain_detail(request: Request, name: str, principal: Principal = Depends(require("chains:read"))) -> HTMLResponse:
    service = chains_of(request.app.state.platform)
    versions = service.registry.versions(principal.project_id, name)
    runs = service.runs(principal.project_id, name, limit=50)
    return render(request, "chains/detail.html", title=f"Chain {name}", name=name, versions=versions,
                  spec=dump_yaml(versions[0].spec), runs=runs)
