"""The job queue in the store: atomic claims, leases kept alive by heartbeats, and job events.

A claim takes the oldest job that is queued, or whose worker's lease ran out (the worker died). On
PostgreSQL the candidate row is locked with `SELECT ... FOR UPDATE SKIP LOCKED`, so workers on many
machines pass over each other's rows instead of queueing on them; on both databases the claim itself
is a conditional `UPDATE ... WHERE <still claimable>` whose row count says who won, which is what makes
it atomic on SQLite (one writer at a time).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from shipyard.finetune.tables import FineTuningJob, JobEvent
from shipyard.store import Store

ACTIVE = ("validating_files", "running")
FINISHED = ("succeeded", "failed", "cancelled")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _claimable(now: float) -> Any:
    J = FineTuningJob
    expired = or_(J.lease_until.is_(None), J.lease_until < now)
    return or_(J.status == "queued", and_(J.status.in_(ACTIVE), expired))


def claim(store: Store, worker_id: str, lease_seconds: float) -> tuple[str, str | None] | None:
    """(job id, the worker that held it before, if it died) for the job this worker now owns, or None."""
    J = FineTuningJob
    now = time.time()
    with store.session() as session:
        query = select(J.id, J.worker_id, J.status).where(_claimable(now)).order_by(J.created_at).limit(1)
        if not store.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        row = session.execute(query).first()
        if row is None:
            return None
        result = session.execute(
            update(J).where(J.id == row.id, _claimable(now))
            .values(status="validating_files", worker_id=worker_id, lease_until=now + lease_seconds,
                    attempts=J.attempts + 1))
        if result.rowcount != 1:  # another worker won this one; try again on the next poll
            return None
        return row.id, (row.worker_id if row.status in ACTIVE else None)


def heartbeat(store: Store, job_id: str, worker_id: str, lease_seconds: float) -> str | None:
    """Extend the lease. Returns None while this worker still owns the job, else why it must stop:
    'cancelled' when a user cancelled it, 'lost' when another worker holds it now."""
    J = FineTuningJob
    with store.session() as session:
        result = session.execute(
            update(J).where(J.id == job_id, J.worker_id == worker_id, J.status.in_(ACTIVE))
            .values(lease_until=time.time() + lease_seconds))
        if result.rowcount == 1:
            return None
        status = session.scalar(select(J.status).where(J.id == job_id))
        return "cancelled" if status == "cancelled" else "lost"


def set_fields(store: Store, job_id: str, worker_id: str | None = None, **values: Any) -> bool:
    """Update a job (only while `worker_id` still owns it, when given); True when the row changed."""
    J = FineTuningJob
    with store.session() as session:
        query = update(J).where(J.id == job_id)
        if worker_id is not None:
            query = query.where(J.worker_id == worker_id, J.status.in_(ACTIVE))
        return session.execute(query.values(**values)).rowcount == 1


def add_event(store: Store, job_id: str, message: str, *, level: str = "info", type: str = "message",
              data: dict[str, Any] | None = None) -> None:
    with store.session() as session:
        session.add(JobEvent(job_id=job_id, message=message, level=level, type=type, data=data))


def recent_throughput(store: Store, base_model: str) -> float | None:
    """Training tokens/s of this installation's latest finished job on the same base (the estimate's basis)."""
    J = FineTuningJob
    with store.session() as session:
        rows = session.scalars(select(J.metrics).where(J.model == base_model, J.status == "succeeded")
                               .order_by(J.finished_at.desc()).limit(5)).all()
    for metrics in rows:
        if metrics and metrics.get("tokens_per_second"):
            return float(metrics["tokens_per_second"])
    return None


def queue_depth(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(FineTuningJob)
                                  .where(FineTuningJob.status == "queued")) or 0)
