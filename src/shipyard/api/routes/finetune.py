"""Fine-tuning over HTTP: OpenAI's `/v1/files` and `/v1/fine_tuning/jobs` (so the official client's
`files.*` and `fine_tuning.jobs.*` work unchanged), `DELETE /v1/models/{ft model}`, and Shipyard's
`/api/finetune/*` (live events, dry-run validation, registered models). The startup hook serves the
registered fine-tuned models and, in the embedded default, runs a worker inside the server."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from fastapi import APIRouter, Body, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, update
from starlette.responses import Response

from shipyard.auth import Principal, require
from shipyard.errors import NotFound
from shipyard.finetune import dataset, files, jobs, serving
from shipyard.finetune.tables import FineTunedModel
from shipyard.platform import Platform

log = logging.getLogger(__name__)
router = APIRouter(tags=["fine-tuning"])
READ, WRITE = require("finetune:read"), require("finetune:write")


def _platform(request: Request) -> Platform:
    return request.app.state.platform


# -- files ----------------------------------------------------------------------------------------------------
@router.post("/v1/files")
async def upload_file(request: Request, file: UploadFile = File(...), purpose: str = Form(...),
                      principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    limit = _platform(request).settings.finetune_max_file_bytes
    content = await file.read(limit + 1)
    return await run_in_threadpool(files.upload, _platform(request), principal, file.filename or "upload", purpose,
                                   content)


@router.get("/v1/files")
def list_files(request: Request, purpose: str | None = None, limit: int = Query(10000, ge=1, le=10000),
               after: str | None = None, order: str = Query("desc", pattern="^(asc|desc)$"),
               principal: Principal = Depends(READ)) -> dict[str, Any]:
    return files.list_files(_platform(request), principal, purpose, limit, after, order)


@router.get("/v1/files/{file_id}")
def retrieve_file(request: Request, file_id: str, principal: Principal = Depends(READ)) -> dict[str, Any]:
    return files.retrieve(_platform(request), principal, file_id)


@router.get("/v1/files/{file_id}/content")
def file_content(request: Request, file_id: str, principal: Principal = Depends(READ)) -> Response:
    name, content = files.content(_platform(request), principal, file_id)
    return Response(content, media_type="application/octet-stream",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


@router.delete("/v1/files/{file_id}")
def delete_file(request: Request, file_id: str, principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    return files.delete(_platform(request), principal, file_id)


# -- jobs -----------------------------------------------------------------------------------------------------
@router.post("/v1/fine_tuning/jobs")
def create_job(request: Request, body: Any = Body(None), principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    return jobs.create(_platform(request), principal, body)


@router.get("/v1/fine_tuning/jobs")
def list_jobs(request: Request, limit: int = Query(20, ge=1, le=100), after: str | None = None,
              principal: Principal = Depends(READ)) -> dict[str, Any]:
    metadata = {k[9:-1]: v for k, v in request.query_params.items() if k.startswith("metadata[") and k.endswith("]")}
    return jobs.list_jobs(_platform(request), principal, limit, after, metadata or None)


@router.get("/v1/fine_tuning/jobs/{job_id}")
def retrieve_job(request: Request, job_id: str, principal: Principal = Depends(READ)) -> dict[str, Any]:
    return jobs.retrieve(_platform(request), principal, job_id)


@router.post("/v1/fine_tuning/jobs/{job_id}/cancel")
def cancel_job(request: Request, job_id: str, principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    return jobs.cancel(_platform(request), principal, job_id)


@router.get("/v1/fine_tuning/jobs/{job_id}/events")
def job_events(request: Request, job_id: str, after: str | None = None, limit: int = Query(20, ge=1, le=1000),
               principal: Principal = Depends(READ)) -> dict[str, Any]:
    return jobs.list_events(_platform(request), principal, job_id, after, limit)


@router.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
def job_checkpoints(request: Request, job_id: str, after: str | None = None, limit: int = Query(10, ge=1, le=100),
                    principal: Principal = Depends(READ)) -> dict[str, Any]:
    return jobs.list_checkpoints(_platform(request), principal, job_id, after, limit)


@router.delete("/v1/models/{model:path}")
async def delete_model(request: Request, model: str, principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    """Retire a fine-tuned model: it leaves the gateway; its row, adapter and checkpoints stay for the record."""
    platform = _platform(request)

    def retire() -> None:
        with platform.store.session() as session:
            row = session.get(FineTunedModel, model)
            if row is None or row.project_id != principal.project_id or not row.active:
                raise NotFound(f"No fine-tuned model named '{model}' (only fine-tuned models can be deleted)",
                               param="model", code="model_not_found")
            session.execute(update(FineTunedModel).where(FineTunedModel.name == model).values(active=False))

    await run_in_threadpool(retire)
    await serving.unregister(platform, model)
    return {"id": model, "object": "model", "deleted": True}


# -- Shipyard's own -------------------------------------------------------------------------------------------
@router.get("/api/finetune/jobs/{job_id}/events")
def follow_events(request: Request, job_id: str, since: int = Query(0, ge=0), limit: int = Query(500, ge=1, le=5000),
                  principal: Principal = Depends(READ)) -> dict[str, Any]:
    """Events after sequence number `since`, oldest first: what the CLI and the dashboard poll."""
    return jobs.list_events(_platform(request), principal, job_id, None, limit, order="asc", since=since)


@router.post("/api/finetune/validate")
async def validate(request: Request, model: str | None = None, max_seq_length: int = Query(512, ge=16),
                   n_epochs: int = Query(3, ge=1), batch_size: int = Query(4, ge=1),
                   principal: Principal = Depends(READ)) -> dict[str, Any]:
    """Check a JSONL body without storing it: every bad line, and for a good file the token counts and
    the time per epoch."""
    from shipyard.finetune.trainer import Hyperparameters

    body = await request.body()
    parsed = dataset.parse_jsonl(body)
    answer: dict[str, Any] = {"valid": not parsed.errors and bool(parsed.examples), "examples": len(parsed.examples),
                              "lines": [e.as_dict() for e in parsed.errors]}
    if answer["valid"]:
        hp = Hyperparameters(max_seq_length=max_seq_length, n_epochs=n_epochs, batch_size=batch_size)
        answer["report"] = await run_in_threadpool(files.analyze, _platform(request), parsed, model, hp)
    return answer


@router.get("/api/finetune/models")
def fine_tuned_models(request: Request, principal: Principal = Depends(READ)) -> dict[str, Any]:
    """Registered fine-tuned model versions: the rows promotion (aliases, canaries) builds on."""
    M = FineTunedModel
    with _platform(request).store.session() as session:
        rows = session.scalars(select(M).where(M.project_id == principal.project_id).order_by(M.created_at.desc()))
        data = [{"name": r.name, "created_at": r.created_at.isoformat(), "job_id": r.job_id,
                 "base_model": r.base_model, "adapter_path": r.adapter_path, "gguf_lora_path": r.gguf_lora_path,
                 "active": r.active, "evaluation": r.evaluation} for r in rows]
    return {"object": "list", "data": data}


# -- lifecycle ------------------------------------------------------------------------------------------------
async def startup(platform: Platform) -> None:
    from shipyard.finetune.worker import Worker

    await serving.sync(platform)
    sync_task = asyncio.create_task(serving.sync_forever(platform))
    worker: Worker | None = None
    thread: threading.Thread | None = None
    if platform.settings.finetune_embedded_worker:
        worker = Worker(platform, on_registered=lambda row: serving.register(platform, row))
        thread = threading.Thread(target=worker.run, name="finetune-worker", daemon=True)
        thread.start()
        platform.services["finetune.worker"] = worker

    async def shutdown(_platform: Platform) -> None:
        sync_task.cancel()
        if worker is not None and thread is not None:
            worker.stop()  # a running job checkpoints and goes back to the queue
            await asyncio.to_thread(thread.join, 60)

    platform.on_shutdown.append(shutdown)
