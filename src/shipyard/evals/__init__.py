"""Evaluation: datasets, evaluators, experiments, comparisons, gates and online scoring.

In-process entry points (used by the API, the CLI through the API, fine-tuning and tests):

    from shipyard.evals import run_experiment, evaluate, evaluator

    exp = await run_experiment(platform, "qa", {"type": "model", "model": "smollm2"}, ["exact_match"], principal)
    report = await evaluate(items, my_function, ["contains"])     # no server, no storage
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shipyard.auth import LOCAL_ADMIN, Principal

if TYPE_CHECKING:
    from shipyard.evals.runner import Progress

# Imported on first use: the store imports `shipyard.evals.tables` while tracing is still loading.
_LAZY = {"Case": "base", "Env": "base", "Evaluator": "base", "Score": "base", "build": "base", "build_all": "base",
         "evaluator": "base", "known": "base", "register": "base", "calibrate": "compare",
         "check_gates": "compare", "Output": "targets"}  # `compare` the function: shipyard.evals.compare

__all__ = [*_LAZY, "evaluate", "run_experiment"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"shipyard.evals.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'shipyard.evals' has no attribute '{name}'")


async def run_experiment(platform: Any, dataset_id: str, target: Any, evaluators: list[Any],
                         principal: Principal = LOCAL_ADMIN, *, name: str | None = None,
                         concurrency: int | None = None, fn: Callable[[Any], Any] | None = None,
                         metadata: dict[str, Any] | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Create an experiment on a dataset (id or name), run it to the end here, and return it with its
    summary. `target` is a model name, a target spec, or `{"type": "callable"}` with `fn`."""
    from shipyard.evals.service import service

    svc = service(platform)
    if callable(target) and not isinstance(target, (str, dict)):
        fn, target = target, {"type": "callable", "name": getattr(target, "__qualname__", "function")}
    exp = svc.experiments.create(principal.project_id, dataset_id, target, evaluators, name=name,
                                 concurrency=concurrency, metadata=metadata, allow_callable=fn is not None)
    return await svc.experiments.execute(exp["id"], principal, fn=fn, progress=progress)


async def evaluate(items: list[dict[str, Any]], target: Any, evaluators: list[Any], *, platform: Any = None,
                   principal: Principal = LOCAL_ADMIN, concurrency: int = 4) -> dict[str, Any]:
    """Evaluate items (dicts with input/expected/context/metadata) without storing anything.

    `target` is a Python callable (item input -> output) or, with a `platform`, a target spec."""
    import asyncio

    from shipyard.evals.base import Env, build_all
    from shipyard.evals.datasets import normalize_item
    from shipyard.evals.runner import run_item, summarize
    from shipyard.evals.targets import build_target, callable_target, check_spec

    normalized = [normalize_item(i, f"item {n}") for n, i in enumerate(items)]
    built = build_all(evaluators)
    env = Env(platform, principal)
    if callable(target) and not isinstance(target, (str, dict)):
        run = callable_target(target)
    else:
        run = build_target(check_spec(target), env)
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(n: int, item: dict[str, Any]) -> dict[str, Any]:
        async with sem:
            out = await run_item(f"item-{n}", item["input"], item["expected"], item["context"], item["metadata"],
                                 run, built, env, "evaluate")
            return {**out, "position": n, "input": item["input"], "expected": item["expected"]}

    results = await asyncio.gather(*(one(n, i) for n, i in enumerate(normalized)))
    return {"object": "evaluation", "status": "completed", "results": list(results),
            "summary": summarize(results, [e.name for e in built])}
