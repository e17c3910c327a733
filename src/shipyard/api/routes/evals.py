"""Evaluation API: evaluators, experiments (jobs), results, comparisons, gates, reports, online rules."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from shipyard.auth import Principal, require
from shipyard.errors import InvalidRequest
from shipyard.evals import base
from shipyard.evals.compare import calibrate, check_gates, compare
from shipyard.evals.report import comparison_html, experiment_html
from shipyard.evals.service import EvalService, service

router = APIRouter(prefix="/api/evals", tags=["evals"])


async def startup(platform: Any) -> None:
    await service(platform).startup()


def _svc(request: Request) -> EvalService:
    return service(request.app.state.platform)


class ExperimentIn(BaseModel):
    dataset: str
    target: Any
    evaluators: list[Any] = Field(min_length=1)
    name: str | None = None
    concurrency: int | None = None
    metadata: dict[str, Any] | None = None


class GatesIn(BaseModel):
    gates: list[str] = Field(default_factory=list)
    baseline: str | None = None
    alpha: float = Field(0.05, gt=0, lt=1)


class LabelIn(BaseModel):
    label: float | None


class RuleIn(BaseModel):
    name: str
    evaluators: list[Any] = Field(min_length=1)
    sample_rate: float = 0.1
    model: str | None = None
    backfill_hours: float = 0.0


class RulePatch(BaseModel):
    enabled: bool | None = None
    sample_rate: float | None = None


@router.get("/evaluators")
def evaluators(principal: Principal = Depends(require("evals:read"))) -> dict[str, Any]:
    names = base.known()
    return {"object": "list", "data": [
        {"type": n, "needs_reference": base.EVALUATORS[n].needs_reference,
         "description": (base.EVALUATORS[n].__doc__ or "").strip().split("\n\n")[0]} for n in names]}


# -- experiments ------------------------------------------------------------------------------------------
@router.post("/experiments", status_code=202)
async def create_experiment(body: ExperimentIn, request: Request,
                            principal: Principal = Depends(require("evals:write"))) -> dict[str, Any]:
    svc = _svc(request)
    exp = await asyncio.to_thread(svc.experiments.create, principal.project_id, body.dataset, body.target,
                                  body.evaluators, name=body.name, concurrency=body.concurrency,
                                  metadata=body.metadata, key_id=principal.key_id)
    svc.start(exp["id"], principal)
    return exp


@router.get("/experiments")
def list_experiments(request: Request, dataset: str | None = None, limit: int = Query(100, ge=1, le=1000),
                     principal: Principal = Depends(require("evals:read"))) -> dict[str, Any]:
    return {"object": "list", "data": _svc(request).experiments.list(principal.project_id, dataset, limit)}


@router.get("/experiments/{ref}")
def get_experiment(ref: str, request: Request, principal: Principal = Depends(require("evals:read"))) -> dict[str, Any]:
    return _svc(request).experiments.get(principal.project_id, ref)


@router.get("/experiments/{ref}/results")
def experiment_results(ref: str, request: Request,
                       principal: Principal = Depends(require("evals:read"))) -> dict[str, Any]:
    return {"object": "list", "data": _svc(request).experiments.results(principal.project_id, ref)}


@router.post("/experiments/{ref}/resume", status_code=202)
async def resume_experiment(ref: str, request: Request,
                            principal: Principal = Depends(require("evals:write"))) -> dict[str, Any]:
    return _svc(request).resume(principal.project_id, ref, principal)


@router.post("/experiments/{ref}/cancel")
async def cancel_experiment(ref: str, request: Request,
                            principal: Principal = Depends(require("evals:write"))) -> dict[str, Any]:
    return await _svc(request).cancel(principal.project_id, ref)


@router.delete("/experiments/{ref}", status_code=204)
async def delete_experiment(ref: str, request: Request, principal: Principal = Depends(require("evals:write"))) -> None:
    svc = _svc(request)
    await svc.cancel(principal.project_id, ref)
    svc.experiments.delete(principal.project_id, ref)


@router.put("/experiments/{ref}/results/{item_id}/label")
def label_result(ref: str, item_id: str, body: LabelIn, request: Request,
                 principal: Principal = Depends(require("evals:write"))) -> dict[str, Any]:
    _svc(request).experiments.set_label(principal.project_id, ref, item_id, body.label)
    return {"item_id": item_id, "human_label": body.label}


@router.get("/experiments/{ref}/calibration")
def calibration(ref: str, evaluator: str, request: Request,
                principal: Principal = Depends(require("evals:read"))) -> dict[str, Any]:
    return calibrate(_svc(request).experiments.results(principal.project_id, ref), evaluator)


@router.post("/experiments/{ref}/gates")
def gates(ref: str, body: GatesIn, request: Request,
          principal: Principal = Depends(require("evals:read"))) -> dict[str, Any]:
    exps = _svc(request).experiments
    exp = exps.get(principal.project_id, ref)
    base_exp = base_results = None
    if body.baseline:
        base_exp = exps.get(principal.project_id, body.baseline)
        if base_exp["id"] == exp["id"]:
            raise InvalidRequest("the baseline is the experiment itself", param="baseline")
        base_results = exps.results(principal.project_id, base_exp["id"])
    out = check_gates(exp, exps.results(principal.project_id, exp["id"]), body.gates, base_exp, base_results,
                      body.alpha)
    return {"experiment": exp["id"], "baseline": base_exp["id"] if base_exp else None, **out}


@router.get("/experiments/{ref}/report", response_class=HTMLResponse)
def experiment_report(ref: str, request: Request,
                      principal: Principal = Depends(require("evals:read"))) -> HTMLResponse:
    exps = _svc(request).experiments
    exp = exps.get(principal.project_id, ref)
    return HTMLResponse(experiment_html(exp, exps.results(principal.project_id, exp["id"]), standalone=True))


def _comparison(request: Request, ids: list[str], principal: Principal) -> dict[str, Any]:
    refs = [r for i in ids for r in i.split(",") if r]
    exps = _svc(request).experiments
    experiments = [exps.get(principal.project_id, r) for r in refs]
    return compare(experiments, [exps.results(principal.project_id, e["id"]) for e in experiments])


@router.get("/compare")
def comparison(request: Request, ids: list[str] = Query(...),
               principal: Principal = Depends(require("evals:read"))) -> dict[str, Any]:
    return _comparison(request, ids, principal)


@router.get("/compare/report", response_class=HTMLResponse)
def comparison_report(request: Request, ids: list[str] = Query(...),
                      principal: Principal = Depends(require("evals:read"))) -> HTMLResponse:
    return HTMLResponse(comparison_html(_comparison(request, ids, principal), standalone=True))


# -- online evaluation --------------------------------------------------------------------------------------
@router.post("/online", status_code=201)
def create_rule(body: RuleIn, request: Request,
                principal: Principal = Depends(require("evals:write"))) -> dict[str, Any]:
    return _svc(request).online.create(principal.project_id, body.name, body.evaluators, body.sample_rate,
                                       body.model, body.backfill_hours)


@router.get("/online")
def list_rules(request: Request, principal: Principal = Depends(require("evals:read"))) -> dict[str, Any]:
    return {"object": "list", "data": _svc(request).online.list(principal.project_id)}


@router.get("/online/{ref}")
def get_rule(ref: str, request: Request, principal: Principal = Depends(require("evals:read"))) -> dict[str, Any]:
    return _svc(request).online.get(principal.project_id, ref)


@router.patch("/online/{ref}")
def update_rule(ref: str, body: RulePatch, request: Request,
                principal: Principal = Depends(require("evals:write"))) -> dict[str, Any]:
    return _svc(request).online.update(principal.project_id, ref, body.enabled, body.sample_rate)


@router.delete("/online/{ref}", status_code=204)
def delete_rule(ref: str, request: Request, principal: Principal = Depends(require("evals:write"))) -> None:
    _svc(request).online.delete(principal.project_id, ref)


@router.post("/online/{ref}/run")
async def run_rule(ref: str, request: Request,
                   principal: Principal = Depends(require("evals:write"))) -> dict[str, Any]:
    """Score what has arrived now instead of waiting for the next tick."""
    online = _svc(request).online
    online.get(principal.project_id, ref)
    scored = await online.tick(principal.project_id, ref)
    return {**online.get(principal.project_id, ref), "scored_now": scored}


@router.get("/online/{ref}/scores")
def rule_scores(ref: str, request: Request, limit: int = Query(200, ge=1, le=5000),
                principal: Principal = Depends(require("evals:read"))) -> dict[str, Any]:
    return {"object": "list", "data": _svc(request).online.scores(principal.project_id, ref, limit)}


@router.get("/online/{ref}/series")
def rule_series(ref: str, request: Request, hours: float = Query(168, gt=0), bucket_minutes: int = Query(60, ge=1),
                principal: Principal = Depends(require("evals:read"))) -> dict[str, Any]:
    series = _svc(request).online.series(principal.project_id, ref, hours, bucket_minutes)
    return {"series": {name: [{"time": t.isoformat(), "mean": m, "n": n} for t, m, n in pts]
                       for name, pts in series.items()}}
