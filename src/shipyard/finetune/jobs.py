"""The OpenAI fine-tuning jobs API (`/v1/fine_tuning/jobs`): create, list, retrieve, cancel, events,
checkpoints. Creating a job only checks and queues it; a worker does the rest (see `worker.py`)."""

from __future__ import annotations

import random
import re
from dataclasses import fields
from typing import Any

from sqlalchemy import select, update

from shipyard.auth import Principal
from shipyard.errors import Conflict, InvalidRequest, NotFound
from shipyard.finetune.base import resolve_base
from shipyard.finetune.convert import check_convertible
from shipyard.finetune.queue import FINISHED, add_event, new_id
from shipyard.finetune.tables import FileRecord, FineTuningJob, JobCheckpoint, JobEvent
from shipyard.finetune.trainer import Hyperparameters
from shipyard.store.tables import utcnow

_HP_FIELDS = {f.name for f in fields(Hyperparameters)} - {"seed"}
_EXTRA_HP = {"learning_rate_multiplier", "evaluators"}
_LIMITS: dict[str, tuple[float, float]] = {
    "n_epochs": (1, 50), "batch_size": (1, 512), "learning_rate": (1e-7, 1.0), "learning_rate_multiplier": (1e-3, 100),
    "lora_rank": (1, 512), "lora_alpha": (1e-3, 4096), "lora_dropout": (0.0, 0.9), "max_seq_length": (16, 131072),
    "warmup_ratio": (0.0, 0.5), "checkpoint_steps": (0, 1_000_000), "max_steps": (1, 10_000_000),
}
_INTS = {"n_epochs", "batch_size", "lora_rank", "max_seq_length", "checkpoint_steps", "max_steps"}


def parse_hyperparameters(body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's names (n_epochs, batch_size, learning_rate_multiplier; "auto" allowed) plus Shipyard's
    (learning_rate, lora_rank, lora_alpha, lora_dropout, lora_target_modules, max_seq_length, warmup_ratio,
    checkpoint_steps, max_steps, evaluators), from `hyperparameters` or `method.supervised.hyperparameters`."""
    given: dict[str, Any] = {}
    method = body.get("method")
    if method is not None:
        if not isinstance(method, dict) or method.get("type", "supervised") != "supervised":
            kind = method.get("type") if isinstance(method, dict) else method
            raise InvalidRequest(f"method '{kind}' is not supported: only supervised fine-tuning (LoRA)",
                                 param="method.type")
        given.update(((method.get("supervised") or {}).get("hyperparameters")) or {})
    top = body.get("hyperparameters") or {}
    if not isinstance(top, dict) or not isinstance(given, dict):
        raise InvalidRequest("hyperparameters must be an object", param="hyperparameters")
    given.update(top)
    hp = Hyperparameters()
    out: dict[str, Any] = {"learning_rate_multiplier": 1.0, "evaluators": ["builtin"]}
    for key, value in given.items():
        param = f"hyperparameters.{key}"
        if key not in _HP_FIELDS | _EXTRA_HP:
            known = ", ".join(sorted(_HP_FIELDS | _EXTRA_HP))
            raise InvalidRequest(f"unknown hyperparameter '{key}' (known: {known})", param=param)
        if value == "auto" or value is None:
            continue
        if key in ("lora_target_modules", "evaluators"):
            empty_ok = key == "evaluators"  # [] skips the evaluation
            if not isinstance(value, list) or not (value or empty_ok) or not all(isinstance(v, str) for v in value):
                raise InvalidRequest(f"{key} must be a non-empty list of names", param=param)
            out[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequest(f"{key} must be a number or \"auto\"", param=param)
        lo, hi = _LIMITS[key]
        if not lo <= value <= hi or (key in _INTS and int(value) != value):
            kind = "an integer" if key in _INTS else "a number"
            raise InvalidRequest(f"{key} must be {kind} between {lo:g} and {hi:g}, got {value}", param=param)
        out[key] = int(value) if key in _INTS else float(value)
    if "learning_rate" not in out:
        out["learning_rate"] = hp.learning_rate * out["learning_rate_multiplier"]
    return {**{k: v for k, v in hp.as_dict().items() if k != "seed"}, **out}


def hyperparameters_of(job: FineTuningJob) -> Hyperparameters:
    stored = job.hyperparameters
    return Hyperparameters(**{k: v for k, v in stored.items() if k in _HP_FIELDS}, seed=job.seed)


def model_name(job: FineTuningJob) -> str:
    return f"ft:{job.model}:{job.suffix or ''}:{job.id}"


def job_object(job: FineTuningJob) -> dict[str, Any]:
    hp = job.hyperparameters
    metrics = job.metrics or {}
    started = job.started_at.timestamp() if job.started_at else None
    estimate = metrics.get("estimated_seconds_total")
    return {
        "id": job.id, "object": "fine_tuning.job", "created_at": int(job.created_at.timestamp()),
        "error": job.error, "fine_tuned_model": job.fine_tuned_model,
        "finished_at": int(job.finished_at.timestamp()) if job.finished_at else None,
        "hyperparameters": {"n_epochs": hp["n_epochs"], "batch_size": hp["batch_size"],
                            "learning_rate_multiplier": hp["learning_rate_multiplier"]},
        "model": job.model, "organization_id": job.project_id, "result_files": [], "seed": job.seed,
        "status": job.status, "trained_tokens": job.trained_tokens, "training_file": job.training_file,
        "validation_file": job.validation_file,
        "estimated_finish": int(started + estimate) if started and estimate and job.status == "running" else None,
        "integrations": [], "metadata": job.metadata_, "user_provided_suffix": job.suffix,
        "method": {"type": "supervised", "supervised": {"hyperparameters": {
            "n_epochs": hp["n_epochs"], "batch_size": hp["batch_size"],
            "learning_rate_multiplier": hp["learning_rate_multiplier"]}}},
        "shipyard": {"hyperparameters": hp, "current_step": job.current_step, "total_steps": job.total_steps,
                     "attempts": job.attempts, "worker_id": job.worker_id, "metrics": metrics},
    }


def _file(session: Any, principal: Principal, file_id: Any, param: str) -> FileRecord:
    row = session.get(FileRecord, file_id) if isinstance(file_id, str) else None
    if row is None or row.project_id != principal.project_id:
        raise InvalidRequest(f"{param} '{file_id}' does not exist", param=param, code="file_not_found")
    if row.purpose != "fine-tune":
        raise InvalidRequest(f"{param} '{file_id}' was uploaded with purpose '{row.purpose}', not 'fine-tune'",
                             param=param)
    return row


def create(platform: Any, principal: Principal, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    base = resolve_base(platform.registry, body.get("model"))
    check_convertible(base.path)
    hp = parse_hyperparameters(body)
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", suffix)):
        raise InvalidRequest("suffix must be 1 to 64 letters, digits, '-' or '_'", param="suffix")
    seed = body.get("seed")
    if seed is None:
        seed = random.randint(0, 2**31 - 1)
    elif isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise InvalidRequest("seed must be an integer between 0 and 2147483647", param="seed")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidRequest("metadata must be an object of strings", param="metadata")
    job = FineTuningJob(id=new_id("ftjob"), project_id=principal.project_id, model=base.name, base_ref=base.ref,
                        training_file=body.get("training_file"), validation_file=body.get("validation_file"),
                        hyperparameters=hp, suffix=suffix, seed=seed, metadata_=metadata, status="queued",
                        current_step=0, attempts=0, created_at=utcnow())
    with platform.store.session() as session:
        _file(session, principal, job.training_file, "training_file")
        if job.validation_file is not None:
            _file(session, principal, job.validation_file, "validation_file")
        session.add(job)
        session.flush()
        session.add(JobEvent(job_id=job.id, message=f"Created fine-tuning job {job.id}", level="info"))
    return job_object(job)


def get_row(session: Any, principal: Principal, job_id: str) -> FineTuningJob:
    job = session.get(FineTuningJob, job_id)
    if job is None or job.project_id != principal.project_id:
        raise NotFound(f"No such fine-tuning job: {job_id}", param="fine_tuning_job_id")
    return job


def retrieve(platform: Any, principal: Principal, job_id: str) -> dict[str, Any]:
    with platform.store.session() as session:
        return job_object(get_row(session, principal, job_id))


def list_jobs(platform: Any, principal: Principal, limit: int, after: str | None,
              metadata: dict[str, str] | None = None) -> dict[str, Any]:
    J = FineTuningJob
    query = select(J).where(J.project_id == principal.project_id)
    with platform.store.session() as session:
        if after:
            cursor = get_row(session, principal, after)
            query = query.where(J.created_at < cursor.created_at)
        rows = list(session.scalars(query.order_by(J.created_at.desc(), J.id.desc()).limit(limit + 1)))
    if metadata:
        rows = [r for r in rows if all((r.metadata_ or {}).get(k) == v for k, v in metadata.items())]
    return {"object": "list", "data": [job_object(r) for r in rows[:limit]], "has_more": len(rows) > limit}


def cancel(platform: Any, principal: Principal, job_id: str) -> dict[str, Any]:
    """Cancelled at once in the store; a worker training it stops before its next step and keeps a checkpoint."""
    J = FineTuningJob
    with platform.store.session() as session:
        job = get_row(session, principal, job_id)
        if job.status in FINISHED:
            raise Conflict(f"Job {job_id} has already {job.status}; only queued or running jobs can be cancelled",
                           param="fine_tuning_job_id")
        changed = session.execute(update(J).where(J.id == job_id, J.status.not_in(FINISHED))
                                  .values(status="cancelled", finished_at=utcnow())).rowcount
        if not changed:
            raise Conflict(f"Job {job_id} finished while being cancelled", param="fine_tuning_job_id")
    add_event(platform.store, job_id, "Job cancelled by the user")
    return retrieve(platform, principal, job_id)


def event_object(e: JobEvent) -> dict[str, Any]:
    return {"object": "fine_tuning.job.event", "id": f"ftevent-{e.seq}", "created_at": int(e.created_at.timestamp()),
            "level": e.level, "message": e.message, "data": e.data, "type": e.type, "seq": e.seq}


def _seq(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(cursor.removeprefix("ftevent-"))
    except ValueError:
        raise InvalidRequest(f"after: not an event id: {cursor}", param="after") from None


def list_events(platform: Any, principal: Principal, job_id: str, after: str | None, limit: int,
                order: str = "desc", since: int | None = None) -> dict[str, Any]:
    """Newest first like OpenAI (`after` pages back in time); `order=asc` with `since` follows a job live."""
    E = JobEvent
    query = select(E).where(E.job_id == job_id)
    cursor = _seq(after)
    with platform.store.session() as session:
        job = get_row(session, principal, job_id)
        if order == "asc":
            query = query.where(E.seq > (since or cursor or 0)).order_by(E.seq.asc())
        else:
            if cursor is not None:
                query = query.where(E.seq < cursor)
            query = query.order_by(E.seq.desc())
        rows = list(session.scalars(query.limit(limit + 1)))
        status = job.status
    return {"object": "list", "data": [event_object(e) for e in rows[:limit]], "has_more": len(rows) > limit,
            "job_status": status}


def list_checkpoints(platform: Any, principal: Principal, job_id: str, after: str | None,
                     limit: int) -> dict[str, Any]:
    C = JobCheckpoint
    with platform.store.session() as session:
        job = get_row(session, principal, job_id)
        query = select(C).where(C.job_id == job_id)
        if after:
            ref = session.get(C, after)
            if ref is not None:
                query = query.where(C.step < ref.step)
        rows = list(session.scalars(query.order_by(C.step.desc()).limit(limit + 1)))
        name = model_name(job)
    data = [{"object": "fine_tuning.job.checkpoint", "id": c.id, "created_at": int(c.created_at.timestamp()),
             "fine_tuned_model_checkpoint": f"{name}:ckpt-step-{c.step}", "fine_tuning_job_id": job_id,
             "metrics": {k: v for k, v in (c.metrics or {}).items() if k != "reason"}, "step_number": c.step,
             "path": c.path} for c in rows[:limit]]
    return {"object": "list", "data": data, "has_more": len(rows) > limit,
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}
