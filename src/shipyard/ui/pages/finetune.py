"""Fine-tuning: jobs at a glance, and each job's training and validation loss charted from its events."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from shipyard.auth import Principal, require
from shipyard.finetune import jobs
from shipyard.finetune.tables import FineTuningJob, JobEvent
from shipyard.ui.charts import line_chart
from shipyard.ui.frame import render

router = APIRouter(prefix="/ui/finetune", include_in_schema=False)
NAV = [("Fine-tuning", "/ui/finetune")]
ORDER = 60


@router.get("", response_class=HTMLResponse)
def job_list(request: Request, principal: Principal = Depends(require("finetune:read"))) -> HTMLResponse:
    J = FineTuningJob
    with request.app.state.platform.store.session() as session:
        rows = list(session.scalars(select(J).where(J.project_id == principal.project_id)
                                    .order_by(J.created_at.desc()).limit(100)))
    return render(request, "finetune/jobs.html", title="Fine-tuning", jobs=[jobs.job_object(r) for r in rows])


@router.get("/{job_id}", response_class=HTMLResponse)
def job_detail(request: Request, job_id: str, principal: Principal = Depends(require("finetune:read"))) -> HTMLResponse:
    platform = request.app.state.platform
    job = jobs.retrieve(platform, principal, job_id)
    E = JobEvent
    with platform.store.session() as session:
        events = list(session.scalars(select(E).where(E.job_id == job_id).order_by(E.seq)))
    train = [(e.data["step"], e.data["train_loss"]) for e in events
             if e.type == "metrics" and e.data and "total_steps" in e.data]
    valid = [(e.data["step"], e.data["valid_loss"]) for e in events
             if e.type == "metrics" and e.data and e.data.get("valid_loss") is not None]
    series = {"training loss": train, **({"validation loss": valid} if valid else {})}
    chart = line_chart(series, title="Loss per step", y_label="loss", y_min=None) if train else None
    messages = [jobs.event_object(e) for e in events
                if not (e.type == "metrics" and e.data and "total_steps" in e.data)]
    evaluation = (job["shipyard"]["metrics"] or {}).get("evaluation")
    return render(request, "finetune/job.html", title=f"Fine-tuning job {job_id}", job=job, chart=chart,
                  events=messages, evaluation=evaluation)
