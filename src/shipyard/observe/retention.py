"""Retention: traces, their spans and scores older than `trace_retention_days` are deleted for real.

Deletes go in chunks of a few thousand rows, each its own short transaction, so a sweep over a large
backlog never holds a long lock that would stall the batched writer.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from shipyard.observe import rollups
from shipyard.observe.tables import Score
from shipyard.store import Store
from shipyard.store.tables import Span, Trace

if TYPE_CHECKING:
    from shipyard.platform import Platform

log = logging.getLogger(__name__)
CHUNK = 5000


def purge(store: Store, older_than: datetime) -> dict[str, int]:
    """Delete everything that started before `older_than`; returns the rows deleted per table."""
    counts = {"traces": 0, "spans": 0, "scores": 0}
    while True:
        with store.session() as session:
            ids = list(session.scalars(select(Trace.id).where(Trace.start_time < older_than).limit(CHUNK)))
            if not ids:
                break
            counts["spans"] += session.execute(delete(Span).where(Span.trace_id.in_(ids))).rowcount or 0
            counts["scores"] += session.execute(delete(Score).where(Score.trace_id.in_(ids))).rowcount or 0
            counts["traces"] += session.execute(delete(Trace).where(Trace.id.in_(ids))).rowcount or 0
    # Spans whose root lives elsewhere (a caller's traceparent) have no trace row: go by their own age.
    for model, column in ((Span, Span.start_time), (Score, Score.created_at)):
        while True:
            with store.session() as session:
                ids = list(session.scalars(select(model.id).where(column < older_than).limit(CHUNK)))
                if not ids:
                    break
                deleted = session.execute(delete(model).where(model.id.in_(ids))).rowcount or 0
                counts[model.__tablename__] += deleted
    with store.engine.begin() as conn:
        rollups.purge(conn, older_than)
    return counts


async def run_retention(platform: Platform) -> None:
    """The background sweep; started by the traces API module when retention is configured."""
    settings = platform.settings
    while True:
        cutoff = datetime.now(UTC) - timedelta(days=settings.trace_retention_days)
        try:
            counts = await asyncio.to_thread(purge, platform.store, cutoff)
            if any(counts.values()):
                log.info("retention: deleted %s (older than %s)", counts, cutoff.isoformat())
        except Exception:
            log.exception("retention sweep failed; trying again next interval")
        await asyncio.sleep(settings.retention_interval)
