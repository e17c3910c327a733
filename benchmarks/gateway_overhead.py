"""Gateway overhead: a fake upstream with a fixed latency, called directly and through Shipyard.

Direct and gateway rounds alternate in one run, at several concurrency levels, non-streaming and
streaming. Prints requests/s for both, their ratio, and the p50/p99 latency the gateway adds.
Extra gateway variants (e.g. tracing on) run beside the plain one with `--variant NAME:KEY=VAL,...`.

    .venv/bin/python benchmarks/gateway_overhead.py [--seconds 4] [--rounds 2] [--concurrency 1 16 64]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import uvloop
from common import FakeUpstream, Load, ShipyardServer, run_load


def merge(loads: list[Load]) -> Load:
    return Load(sum(x.requests for x in loads), sum(x.seconds for x in loads),
                [v for x in loads for v in x.latencies], sum(x.errors for x in loads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating direct/gateway rounds per cell")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--latency", type=float, default=0.02, help="upstream latency in seconds")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME:ENV=VAL,ENV=VAL  an extra gateway configuration to measure")
    parser.add_argument("--config", type=Path, help="extra shipyard.yaml keys (YAML) for every gateway")
    args = parser.parse_args()

    import yaml

    upstream = FakeUpstream(latency=args.latency)
    extra = yaml.safe_load(args.config.read_text()) if args.config else {}
    config = {"include_bundled_models": False, **extra,
              "models": [{"name": "bench", "provider": "openai", "model": "m", "base_url": upstream.url + "/v1"}]}
    variants: dict[str, dict[str, str]] = {"gateway": {}}
    for spec in args.variant:
        name, _, pairs = spec.partition(":")
        variants[name] = dict(p.split("=", 1) for p in pairs.split(",") if p)
    tmp = Path(tempfile.mkdtemp(prefix="shipyard-bench-"))
    servers = {name: ShipyardServer(tmp / name, config, env=env) for name, env in variants.items()}
    headers = {"Authorization": "Bearer " + servers["gateway"].env.get("SHIPYARD_ADMIN_KEY", "unused")}
    try:
        print(f"upstream latency {args.latency * 1000:.0f} ms, {args.rounds} x {args.seconds:.0f} s rounds per cell")
        print(f"{'mode':<7}{'conc':>5}{'target':>10}{'rps':>9}{'direct':>9}{'ratio':>7}"
              f"{'p50 add ms':>12}{'p99 add ms':>12}{'errors':>8}")
        for stream in (False, True):
            body = {"model": "bench", "messages": [{"role": "user", "content": "hello"}], "stream": stream}
            direct_body = {**body, "model": "m"}
            for conc in args.concurrency:
                # warm both paths' connection pools
                uvloop.run(run_load(upstream.url + "/v1/chat/completions", direct_body, conc, 0.5))
                for srv in servers.values():
                    uvloop.run(run_load(srv.url + "/v1/chat/completions", body, conc, 0.5, headers))
                results: dict[str, list[Load]] = {"direct": [], **{n: [] for n in servers}}
                for _ in range(args.rounds):
                    results["direct"].append(uvloop.run(
                        run_load(upstream.url + "/v1/chat/completions", direct_body, conc, args.seconds)))
                    for name, srv in servers.items():
                        results[name].append(uvloop.run(
                            run_load(srv.url + "/v1/chat/completions", body, conc, args.seconds, headers)))
                direct = merge(results["direct"])
                for name in servers:
                    via = merge(results[name])
                    print(f"{'stream' if stream else 'json':<7}{conc:>5}{name:>10}{via.rps:>9.0f}{direct.rps:>9.0f}"
                          f"{via.rps / direct.rps:>7.2f}{via.p50 - direct.p50:>12.2f}"
                          f"{via.pct(0.99) - direct.pct(0.99):>12.2f}{via.errors:>8}", flush=True)
    finally:
        for srv in servers.values():
            srv.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
