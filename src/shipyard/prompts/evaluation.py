"""Prompt and chain versions as evaluation targets (the hook `shipyard.evals.targets` looks for)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.evals.base import Env
    from shipyard.evals.targets import Output, Target
    from shipyard.platform import Platform


def eval_target(spec: dict[str, Any], platform: Platform) -> Target:
    """`{"type": "prompt", "name", "version"|"label", "model"?, "params"?}` renders the version with the
    item's variables and calls the model through the gateway; `{"type": "chain", "name", "version"|"label"}`
    runs the chain on the item's variables. Both are traced like any other call."""
    from shipyard.evals.targets import Output, variables_of

    kind, name = spec["type"], spec["name"]
    ref = spec.get("version", spec.get("label"))
    pointer = {"version": spec["version"]} if "version" in spec else {"label": spec["label"]} if "label" in spec else {}
    params = dict(spec.get("params") or {})

    async def call(item_input: Any, env: Env) -> Output:
        t0 = time.perf_counter()
        if kind == "chain":
            from shipyard.chains.runner import run_chain

            run = await run_chain(platform, name, ref, variables_of(item_input), env.principal)
            return Output(output=run.get("output"), latency_ms=(time.perf_counter() - t0) * 1000.0)
        body: dict[str, Any] = {"prompt": {"name": name, **pointer, "variables": variables_of(item_input)},
                                **params}
        if spec.get("model"):
            body["model"] = spec["model"]
        answer = await env.complete(body)
        usage = answer.get("usage") or {}
        message = (answer.get("choices") or [{}])[0].get("message") or {}
        return Output(output=message.get("content"), latency_ms=(time.perf_counter() - t0) * 1000.0,
                      prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))

    return call
