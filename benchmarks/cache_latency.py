"""Cache latency: p50 of an exact hit, a semantic hit (prompt embedding included) and a miss on the
bundled local model, in one run against one server.

    .venv/bin/python benchmarks/cache_latency.py [--requests 30] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from common import ShipyardServer

PROMPT = "What is the capital city of France?"
PARAPHRASE = "what's the capital city of france"
WORDS = ("ship harbor volcano piano algebra tulip glacier violin castle desert robot comet orchard lantern "
         "whale bicycle cactus meteor library canyon tiger engine forest pepper crystal saddle rocket marble").split()


def timed(client: httpx.Client, content: str, max_tokens: int, expect: str) -> float | None:
    body = {"model": "smollm2", "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "temperature": 0}
    t0 = time.perf_counter()
    r = client.post("/v1/chat/completions", json=body)
    elapsed = (time.perf_counter() - t0) * 1000
    r.raise_for_status()
    got = r.headers.get("x-shipyard-cache")
    if got != expect:
        if expect == "miss":
            return None  # a random prompt happened to be close to an earlier one; the caller draws another
        raise SystemExit(f"expected a cache {expect}, got {got} for {content!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    config = {"cache_enabled": True, "cache_semantic_models": ["smollm2"], "cache_similarity": 0.85}
    server = ShipyardServer(Path(tempfile.mkdtemp(prefix="shipyard-bench-")), config)
    client = httpx.Client(base_url=server.url, timeout=300)
    try:
        timed(client, PROMPT, args.max_tokens, "miss")  # loads both models and fills the cache
        misses, exact, semantic = [], [], []
        rng = random.Random(7)
        for _ in range(args.requests):
            miss_ms = None
            while miss_ms is None:  # a prompt unrelated to every earlier one: a real miss
                miss_ms = timed(client, f"Write about {' '.join(rng.sample(WORDS, 5))}.", args.max_tokens, "miss")
            misses.append(miss_ms)
            exact.append(timed(client, PROMPT, args.max_tokens, "hit") or 0.0)
            semantic.append(timed(client, PARAPHRASE, args.max_tokens, "semantic") or 0.0)
        miss = statistics.median(misses)
        print(f"{'case':<34}{'p50 ms':>10}{'vs miss':>10}")
        for name, values in (("miss (smollm2, " + str(args.max_tokens) + " tokens)", misses),
                             ("exact hit", exact), ("semantic hit (embedding included)", semantic)):
            p50 = statistics.median(values)
            print(f"{name:<34}{p50:>10.2f}{p50 / miss:>10.3f}")
    finally:
        client.close()
        server.stop()


if __name__ == "__main__":
    main()
