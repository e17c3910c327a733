"""Experiment throughput: items per second through `run_experiment` (target call, evaluators, per-item
commit, tracing) against the same gateway calls made bare, in the same process and run.

    python benchmarks/evals_throughput.py [--items 400] [--concurrency 8] [--latency 0.02]

The target is a fake hosted model answering after `--latency` seconds, so the ratio shows what the
evaluation machinery adds around a model call: with real models (hundreds of ms) it vanishes.
Also times the paired bootstrap + permutation test on 10k items (what a comparison costs).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from common import FakeUpstream

from shipyard.config import Settings
from shipyard.evals import run_experiment
from shipyard.evals.service import service
from shipyard.platform import Platform


async def main(items: int, concurrency: int, latency: float) -> None:
    upstream = FakeUpstream(latency=latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), include_bundled_models=False, evals_online_interval=0,
                                models=[{"name": "echo", "provider": "openai", "model": "eval-echo",
                                         "base_url": upstream.url + "/v1"}])
            platform = Platform.build(settings)
            await platform.start()
            try:
                await run_bench(platform, items, concurrency)
            finally:
                await platform.stop()
    finally:
        upstream.stop()


EVALUATORS = ["exact_match", "contains", "rouge_l"]


async def run_bench(platform: Platform, items: int, concurrency: int) -> None:
    rows = [{"input": f"question {n}", "expected": f"question {n}"} for n in range(items)]
    svc = service(platform)
    svc.datasets.create("default", "bench")
    svc.datasets.add_items("default", "bench", rows)
    sem = asyncio.Semaphore(concurrency)

    async def bare(n: int) -> None:
        async with sem:
            await platform.gateway.complete({"model": "echo", "messages": [{"role": "user", "content": f"q {n}"}]})

    await asyncio.gather(*(bare(n) for n in range(50)))  # warm connections
    t0 = time.perf_counter()
    await asyncio.gather(*(bare(n) for n in range(items)))
    bare_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    exp = await run_experiment(platform, "bench", "echo", EVALUATORS,
                               concurrency=concurrency)
    eval_s = time.perf_counter() - t0
    assert exp["done"] == items and exp["summary"]["pass_rate"]["mean"] == 1.0

    import numpy as np

    from shipyard.evals.stats import paired_test

    rng = np.random.default_rng(0)
    a, b = rng.random(10_000).tolist(), rng.random(10_000).tolist()
    t0 = time.perf_counter()
    paired_test(a, b)
    stats_s = time.perf_counter() - t0

    print(f"items={items} concurrency={concurrency}")
    print(f"bare gateway calls : {items / bare_s:8.1f} items/s")
    print(f"run_experiment     : {items / eval_s:8.1f} items/s  (3 evaluators, per-item commit, traced)")
    print(f"ratio              : {eval_s / bare_s:8.2f}x the bare time")
    print(f"paired test, 10k items (2000 bootstrap + 10000 permutations): {stats_s * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    asyncio.run(main(args.items, args.concurrency, args.latency))
