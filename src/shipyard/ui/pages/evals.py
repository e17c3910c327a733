"""Evaluation pages: datasets, experiments (the report), comparisons, and online scores over time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shipyard.auth import Principal, require
from shipyard.evals.compare import compare
from shipyard.evals.report import comparison_context, experiment_context
from shipyard.evals.service import EvalService, service
from shipyard.ui.charts import line_chart
from shipyard.ui.frame import render

router = APIRouter(prefix="/ui/evals", include_in_schema=False)
NAV = [("Evaluations", "/ui/evals")]
ORDER = 40


def _svc(request: Request) -> EvalService:
    return service(request.app.state.platform)


@router.get("", response_class=HTMLResponse)
def index(request: Request, principal: Principal = Depends(require("evals:read"))) -> HTMLResponse:
    svc = _svc(request)
    return render(request, "evals/index.html", title="Evaluations",
                  datasets=svc.datasets.list(principal.project_id),
                  experiments=svc.experiments.list(principal.project_id, limit=200),
                  rules=svc.online.list(principal.project_id))


@router.get("/datasets/{ref}", response_class=HTMLResponse)
def dataset(ref: str, request: Request, version: int | None = None,
            principal: Principal = Depends(require("datasets:read"))) -> HTMLResponse:
    svc = _svc(request)
    d = svc.datasets.get(principal.project_id, ref)
    items = svc.datasets.items(principal.project_id, ref, version, limit=500)
    from shipyard.evals.report import short

    return render(request, "evals/dataset.html", title=f"Dataset {d['name']}", d=d, items=items, short=short,
                  experiments=svc.experiments.list(principal.project_id, d["id"]))


@router.post("/datasets/{ref}/from-traces")
def add_from_traces(ref: str, request: Request, ids: str = Form(...),
                    principal: Principal = Depends(require("datasets:write"))) -> RedirectResponse:
    """Paste span or trace ids (one per line or comma-separated) to turn those calls into items."""
    tokens = [t.strip() for t in ids.replace(",", "\n").splitlines() if t.strip()]
    svc = _svc(request)
    from sqlalchemy import select

    from shipyard.store.tables import Span

    with request.app.state.platform.store.session() as s:
        span_ids = set(s.scalars(select(Span.id).where(Span.id.in_(tokens), Span.project_id == principal.project_id)))
    svc.datasets.from_traces(principal.project_id, ref, [t for t in tokens if t in span_ids],
                             [t for t in tokens if t not in span_ids])
    return RedirectResponse(f"/ui/evals/datasets/{ref}", status_code=303)


@router.get("/experiments/{ref}", response_class=HTMLResponse)
def experiment(ref: str, request: Request, principal: Principal = Depends(require("evals:read"))) -> HTMLResponse:
    exps = _svc(request).experiments
    exp = exps.get(principal.project_id, ref)
    ctx = experiment_context(exp, exps.results(principal.project_id, exp["id"]))
    return render(request, "evals/experiment.html", title=f"Experiment {exp['name']}", **ctx)


@router.get("/compare", response_class=HTMLResponse)
def comparison(request: Request, ids: list[str] = Query(...),
               principal: Principal = Depends(require("evals:read"))) -> HTMLResponse:
    exps = _svc(request).experiments
    refs = [r for i in ids for r in i.split(",") if r]
    # Picked from a newest-first list: the oldest is the baseline the others are measured against.
    experiments = sorted((exps.get(principal.project_id, r) for r in refs), key=lambda e: e["created_at"])
    refs = [e["id"] for e in experiments]
    cmp = compare(experiments, [exps.results(principal.project_id, e["id"]) for e in experiments])
    return render(request, "evals/compare.html", title="Compare experiments", ids=refs, **comparison_context(cmp))


@router.get("/online/{ref}", response_class=HTMLResponse)
def online(ref: str, request: Request, hours: float = 168, bucket_minutes: int = 60,
           principal: Principal = Depends(require("evals:read"))) -> HTMLResponse:
    svc = _svc(request)
    rule = svc.online.get(principal.project_id, ref)
    series = svc.online.series(principal.project_id, ref, hours, bucket_minutes)
    chart = line_chart({name: [(t, m) for t, m, _ in pts] for name, pts in series.items()},
                       title="Mean score over time", y_label="score")
    scores: list[dict[str, Any]] = svc.online.scores(principal.project_id, ref, 100)
    return render(request, "evals/online.html", title=f"Online rule {rule['name']}", rule=rule, chart=chart,
                  scores=scores)
