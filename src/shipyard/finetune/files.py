"""The OpenAI files API (`/v1/files`). A `fine-tune` upload is validated on the way in: every bad line is
reported with its number and reason, and a good file gets token counts and a time-per-epoch estimate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from shipyard.auth import Principal
from shipyard.errors import Conflict, InvalidRequest, NotFound
from shipyard.finetune import dataset
from shipyard.finetune.queue import ACTIVE, new_id, recent_throughput
from shipyard.finetune.tables import FileRecord, FineTuningJob
from shipyard.finetune.trainer import Hyperparameters

PURPOSES = ("fine-tune", "batch", "assistants", "vision", "user_data", "evals")
# Training throughput assumed before this installation has finished a job: SmolLM2-135M, LoRA r=8,
# on two CPU cores (measured: ~3.3 s per step of 4 x 128 tokens). A GPU is far faster.
DEFAULT_TOKENS_PER_SECOND = {"cpu": 150.0, "cuda": 5000.0, "mps": 800.0}


def finetune_dir(settings: Any) -> Path:
    return Path(settings.finetune_dir or settings.data_dir / "finetune").expanduser()


def file_object(row: FileRecord) -> dict[str, Any]:
    return {"id": row.id, "object": "file", "bytes": row.bytes, "created_at": int(row.created_at.timestamp()),
            "filename": row.filename, "purpose": row.purpose, "status": row.status,
            "status_details": row.status_details, "expires_at": None, "validation": row.report}


def analyze(platform: Any, parsed: dataset.Parsed, base_model: str | None = None,
            hp: Hyperparameters | None = None) -> dict[str, Any]:
    """Token counts with the base model's tokenizer and the time an epoch should take."""
    from shipyard.finetune.base import fine_tunable, load_tokenizer, resolve_base
    from shipyard.finetune.device import pick_device

    hp = hp or Hyperparameters()
    candidates = fine_tunable(platform.registry)
    name = base_model or ("smollm2" if "smollm2" in candidates else (candidates[0] if candidates else None))
    if name is None:
        return {"examples": len(parsed.examples), "warnings": ["no local base model to count tokens with"]}
    base = resolve_base(platform.registry, name)
    tokenizer = load_tokenizer(base.path, finetune_dir(platform.settings) / "bases")
    stats = dataset.token_stats(tokenizer, parsed, hp.max_seq_length)
    measured = recent_throughput(platform.store, name)
    if measured:
        tps, basis = measured, f"measured on this installation's last {name} job"
    else:
        device = pick_device(platform.settings.finetune_device).type
        tps = DEFAULT_TOKENS_PER_SECOND.get(device, 150.0)
        basis = f"default for {device} (no finished {name} job yet)"
    report = dataset.estimate(stats, tps, basis, hp.n_epochs, hp.batch_size, hp.max_seq_length)
    report["base_model"] = name
    return report


def upload(platform: Any, principal: Principal, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
    if purpose not in PURPOSES:
        raise InvalidRequest(f"purpose must be one of {', '.join(PURPOSES)}", param="purpose")
    limit = platform.settings.finetune_max_file_bytes
    if len(content) > limit:
        raise InvalidRequest(f"file is {len(content)} bytes, over the limit of {limit}", param="file",
                             code="payload_too_large")
    filename = re.sub(r"[\x00-\x1f/\\]", "_", filename or "upload")[:300]
    report = None
    if purpose == "fine-tune":
        parsed = dataset.parse_jsonl(content)
        dataset.require_valid(parsed, filename)
        report = analyze(platform, parsed)
    row = FileRecord(id=new_id("file"), project_id=principal.project_id, filename=filename, purpose=purpose,
                     bytes=len(content), status="processed", report=report, content=content)
    with platform.store.session() as session:
        session.add(row)
    return file_object(row)


def get_row(session: Any, principal: Principal, file_id: str) -> FileRecord:
    row = session.get(FileRecord, file_id)
    if row is None or row.project_id != principal.project_id:
        raise NotFound(f"No such File object: {file_id}", param="file_id")
    return row


def retrieve(platform: Any, principal: Principal, file_id: str) -> dict[str, Any]:
    with platform.store.session() as session:
        return file_object(get_row(session, principal, file_id))


def content(platform: Any, principal: Principal, file_id: str) -> tuple[str, bytes]:
    with platform.store.session() as session:
        row = get_row(session, principal, file_id)
        return row.filename, row.content


def list_files(platform: Any, principal: Principal, purpose: str | None, limit: int, after: str | None,
               order: str) -> dict[str, Any]:
    F = FileRecord
    cols = [F.id, F.project_id, F.created_at, F.filename, F.purpose, F.bytes, F.status, F.status_details, F.report]
    query = select(*cols).where(F.project_id == principal.project_id)
    if purpose:
        query = query.where(F.purpose == purpose)
    key = (F.created_at.desc(), F.id.desc()) if order == "desc" else (F.created_at.asc(), F.id.asc())
    with platform.store.session() as session:
        if after:
            cursor = get_row(session, principal, after)
            newer = F.created_at > cursor.created_at
            query = query.where(F.created_at < cursor.created_at if order == "desc" else newer)
        rows = session.execute(query.order_by(*key).limit(limit + 1)).all()
    data = [file_object(r) for r in rows[:limit]]  # type: ignore[arg-type]
    return {"object": "list", "data": data, "has_more": len(rows) > limit,
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}


def delete(platform: Any, principal: Principal, file_id: str) -> dict[str, Any]:
    J = FineTuningJob
    with platform.store.session() as session:
        row = get_row(session, principal, file_id)
        busy = session.scalar(select(J.id).where(
            (J.training_file == file_id) | (J.validation_file == file_id), J.status.in_(("queued", *ACTIVE))))
        if busy:
            raise Conflict(f"file {file_id} is used by fine-tuning job {busy}, which has not finished; "
                           "cancel the job first", param="file_id")
        session.delete(row)
    return {"id": file_id, "object": "file", "deleted": True}
