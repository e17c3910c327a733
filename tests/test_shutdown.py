"""The request log under concurrent load, and after SIGTERM: every request is there."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
from sqlalchemy import func, select

from shipyard.store import Store
from shipyard.store.tables import Span, Trace
from tests.helpers import FakeUpstream, ShipyardServer


def test_sigterm_drains_the_request_log(tmp_path: Path) -> None:
    upstream = FakeUpstream(latency=0.01)
    config = {"models": [{"name": "up", "provider": "openai", "model": "m", "base_url": upstream.url + "/v1"}],
              "include_bundled_models": False}
    # A long flush interval keeps the rows queued in memory until the shutdown drains them.
    server = ShipyardServer(tmp_path / "data", config, env={"SHIPYARD_WRITER_FLUSH_INTERVAL": "60",
                                                            "SHIPYARD_WRITER_BATCH_SIZE": "100000"})
    total = 300

    async def load() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            sem = asyncio.Semaphore(32)

            async def one(i: int) -> int:
                async with sem:
                    body = {"model": "up", "messages": [{"role": "user", "content": f"q{i}"}], "stream": i % 2 == 0}
                    r = await client.post("/v1/chat/completions", json=body)
                    return r.status_code

            return await asyncio.gather(*(one(i) for i in range(total)))

    try:
        statuses = asyncio.run(load())
        assert statuses.count(200) == total
        store = Store(f"sqlite:///{tmp_path / 'data' / 'shipyard.db'}")
        with store.session() as s:
            before = s.scalar(select(func.count()).select_from(Span))
        assert before == 0, "rows were written before shutdown, so the test proves nothing"
        assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it caught
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Span)) == total
            streamed = s.scalar(select(func.count()).select_from(Span).where(Span.stream))
            assert streamed == total // 2
            tokens = s.scalar(select(func.sum(Span.completion_tokens)))
            assert tokens == total * 5
            assert s.scalar(select(func.count()).select_from(Trace)) == total  # each call is its own trace
    finally:
        server.stop()
        upstream.stop()
