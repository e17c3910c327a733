"""Local model throughput: generation tokens/s through the gateway versus `llama_cpp` called directly.

Same GGUF (the bundled SmolLM2-135M), same prompt, same settings, rounds alternating in one run.
Target: ratio at least 0.95.

    .venv/bin/python benchmarks/local_model.py [--rounds 3] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from common import ShipyardServer

from shipyard.providers.bundled import resolve_model_path

MESSAGES = [{"role": "user", "content": "Write a long story about a ship that sails around the world."}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    from llama_cpp import Llama

    params = {"temperature": 0, "seed": 7, "max_tokens": args.max_tokens}
    llm = Llama(model_path=str(resolve_model_path("bundled:smollm2")), n_ctx=2048, n_threads=os.cpu_count(),
                verbose=False)
    server = ShipyardServer(Path(tempfile.mkdtemp(prefix="shipyard-bench-")), {"models": []})
    client = httpx.Client(base_url=server.url, timeout=300)
    try:
        client.post("/v1/chat/completions", json={"model": "smollm2", "messages": MESSAGES, "max_tokens": 4})
        llm.create_chat_completion(messages=MESSAGES, max_tokens=4)
        direct, gateway = [], []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            r = llm.create_chat_completion(messages=MESSAGES, **params)
            direct.append(r["usage"]["completion_tokens"] / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            g = client.post("/v1/chat/completions", json={"model": "smollm2", "messages": MESSAGES, **params}).json()
            gateway.append(g["usage"]["completion_tokens"] / (time.perf_counter() - t0))
        d, g = statistics.median(direct), statistics.median(gateway)
        print(f"llama_cpp direct   {d:7.1f} tokens/s (median of {args.rounds})")
        print(f"through Shipyard   {g:7.1f} tokens/s")
        print(f"ratio              {g / d:7.3f}  (target >= 0.95)")
    finally:
        client.close()
        server.stop()


if __name__ == "__main__":
    main()
