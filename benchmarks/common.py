"""Benchmark plumbing shared by every script here: servers in their own processes, a load generator."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import FakeUpstream, ShipyardServer, free_port, wait_http  # noqa: E402

__all__ = ["FakeUpstream", "Load", "ShipyardServer", "free_port", "run_load", "wait_http"]


@dataclass
class Load:
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000 if data else float("nan")

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")


async def run_load(url: str, body: dict, concurrency: int, seconds: float, headers: dict | None = None) -> Load:
    """Closed-loop load: `concurrency` clients, each sending the next request when the last one ends."""
    payload = orjson.dumps(body)
    stream = bool(body.get("stream"))
    latencies: list[float] = []
    errors = 0
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        stop_at = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=payload, headers=hdrs) as resp:
                        if stream:
                            async for _ in resp.content:
                                pass
                        else:
                            await resp.read()
                        if resp.status != 200:
                            errors += 1
                            continue
                except aiohttp.ClientError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Load(len(latencies), elapsed, latencies, errors)
