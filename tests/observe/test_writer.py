"""The writer's failure modes: a resent batch stores nothing twice, a bad row cannot block the queue,
and the retention sweep runs by itself in a live platform."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shipyard.api.routes import traces as traces_routes
from shipyard.config import Settings
from shipyard.observe import tracing
from shipyard.observe.writer import BatchWriter
from shipyard.platform import Platform
from shipyard.store.tables import Span, Trace
from tests.observe.factory import span_row, write


def count(store, table=Span) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(table)) or 0


def test_resent_rows_are_stored_once_and_bad_rows_are_split_out(store) -> None:
    writer = BatchWriter(store, batch_size=10)
    rows = [span_row() for _ in range(3)]
    for row in rows + rows:  # the same batch twice (an SDK retry after a lost answer)
        writer.put(tracing.SPANS, row)
    writer.flush_once()
    assert count(store) == 3 and writer.rejected == 0
    good = span_row()
    writer.put(tracing.SPANS, good)
    writer.put(tracing.SPANS, span_row() | {"name": None})  # NOT NULL: refused for its data
    for _ in range(BatchWriter.REFUSALS_BEFORE_SPLIT - 1):
        with pytest.raises(Exception):  # noqa: B017  kept whole and retried first
            writer.flush_once()
        assert writer.depth == 2
    writer.flush_once()
    assert writer.depth == 0 and writer.rejected == 1 and count(store) == 4


async def test_retention_sweep_runs_in_the_background(tmp_path: Path) -> None:
    platform = Platform.build(Settings(data_dir=tmp_path, include_bundled_models=False, trace_retention_days=7,
                                       retention_interval=0.1))
    await platform.start()
    try:
        now = datetime.now(UTC)
        write(platform.store, [span_row(start=now - timedelta(days=8)), span_row(start=now - timedelta(days=8)),
                               span_row(start=now - timedelta(days=1))])
        assert count(platform.store) == 3
        await traces_routes.startup(platform)
        for _ in range(50):
            if count(platform.store) == 1:
                break
            await asyncio.sleep(0.1)
        assert count(platform.store) == 1 and count(platform.store, Trace) == 1
    finally:
        await platform.stop()
