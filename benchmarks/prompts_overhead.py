"""Prompt references on the gateway's hot path: `model: prompt:NAME@production` (registry lookup from the
in-memory cache + sandboxed render of a two-message template) against the same request with the messages
already written, on one server, alternating rounds, against the fake upstream.

    .venv/bin/python benchmarks/prompts_overhead.py [--seconds 4] [--rounds 2] [--concurrency 1 16]

Prints requests/s and p50 for both and their ratio (prompt / plain): the prompt stage's cost per call.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import httpx

from benchmarks.common import FakeUpstream, Load, ShipyardServer, run_load

SYSTEM = "You are the support assistant of {{ product }}. Answer in {{ language }}; be brief and precise."
USER = "Customer question: {{ question }}"
VARS = {"product": "Kettles Inc", "language": "English", "question": "My kettle leaks, what do I do?"}


def merge(loads: list[Load]) -> Load:
    return Load(sum(x.requests for x in loads), sum(x.seconds for x in loads),
                [v for x in loads for v in x.latencies], sum(x.errors for x in loads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()

    upstream = FakeUpstream(latency=0.0)
    config = {"include_bundled_models": False,
              "models": [{"name": "bench", "provider": "openai", "model": "m", "base_url": upstream.url + "/v1"}]}
    srv = ShipyardServer(Path(tempfile.mkdtemp(prefix="shipyard-bench-")), config)
    try:
        httpx.post(srv.url + "/api/prompts", json={
            "name": "support", "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
            "model": "bench", "params": {"max_tokens": 64}, "labels": ["production"]}).raise_for_status()
        rendered = [{"role": "system", "content": "You are the support assistant of Kettles Inc. Answer in English; "
                                                  "be brief and precise."},
                    {"role": "user", "content": "Customer question: My kettle leaks, what do I do?"}]
        bodies = {"plain": {"model": "bench", "messages": rendered, "max_tokens": 64},
                  "prompt": {"model": "prompt:support@production", "prompt": {"variables": VARS}}}
        url = srv.url + "/v1/chat/completions"
        print(f"{args.rounds} x {args.seconds:.0f} s rounds per cell, upstream answers at once")
        print(f"{'conc':>5}{'plain rps':>11}{'prompt rps':>12}{'ratio':>7}{'plain p50':>11}{'prompt p50':>12}"
              f"{'errors':>8}")
        for conc in args.concurrency:
            for body in bodies.values():
                asyncio.run(run_load(url, body, conc, 0.5))  # warm up
            results: dict[str, list[Load]] = {k: [] for k in bodies}
            for _ in range(args.rounds):
                for name, body in bodies.items():
                    results[name].append(asyncio.run(run_load(url, body, conc, args.seconds)))
            plain, prompt = merge(results["plain"]), merge(results["prompt"])
            print(f"{conc:>5}{plain.rps:>11.0f}{prompt.rps:>12.0f}{prompt.rps / plain.rps:>7.2f}"
                  f"{plain.p50:>10.2f}ms{prompt.p50:>10.2f}ms{plain.errors + prompt.errors:>8}", flush=True)
    finally:
        srv.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
