"""Guardrail latency: all input scanners on a ~1,000-token prompt, and the gateway with guards on vs off.

Part 1 times `check_messages` (prompt injection with rules + classifier, PII with pseudonymization,
secrets, toxicity, banned topics) on a fresh ~1,000-token prompt per run, in this process; target
p50 < 10 ms and p99 < 30 ms. Part 2 runs benchmarks/gateway_overhead.py with a second gateway
variant `guards-off` (SHIPYARD_GUARD_ENABLED=false) beside the default one (guards on, default policy),
so the ratio of the two rows is the guard's cost on the request path.

    .venv/bin/python benchmarks/guard_latency.py [--runs 1000] [--tokens 1000] [--gateway] [--seconds 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from shipyard.guard import bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--gateway", action="store_true", help="also run the gateway overhead, guards on vs off")
    parser.add_argument("--seconds", type=float, default=4.0, help="gateway: length of one round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()

    t = bench.latency(runs=args.runs, tokens=args.tokens)
    ok = t["p50"] < 10 and t["p99"] < 30
    print(f"all input scanners, {t['tokens']}-token prompt, {t['runs']} runs: p50 {t['p50']:.2f} ms  "
          f"p99 {t['p99']:.2f} ms  mean {t['mean']:.2f} ms  (target p50 < 10, p99 < 30: {'met' if ok else 'NOT met'})",
          flush=True)
    if args.gateway:
        cmd = [sys.executable, str(HERE / "gateway_overhead.py"), "--seconds", str(args.seconds),
               "--concurrency", *map(str, args.concurrency), "--variant", "guards-off:SHIPYARD_GUARD_ENABLED=false"]
        print("gateway overhead: 'gateway' = guards on (default policy), 'guards-off' = SHIPYARD_GUARD_ENABLED=false",
              flush=True)
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
