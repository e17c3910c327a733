"""What an experiment evaluates: a model with a prompt, a prompt version, a chain version, or any
Python callable (in-process only). A target turns one dataset item into an output.

Target specs (JSON):
  {"type": "model", "model": "smollm2", "messages": [...template...], "system": "...", "params": {...}}
  {"type": "prompt", "name": "support-answer", "version": 3 | "label": "production", "model": "..."}
  {"type": "chain", "name": "rag-answer", "version": 2 | "label": "production"}
A fine-tuned model is a model target with its gateway name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidRequest
from shipyard.evals.base import Env, as_text

_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
_PARAMS = {"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "presence_penalty",
           "frequency_penalty", "response_format", "tools", "tool_choice", "n"}


@dataclass
class Output:
    output: Any
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None


Target = Callable[[Any, Env], Awaitable[Output]]


def variables_of(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        return {"input": value}
    return {}


def render(template: str, variables: dict[str, Any]) -> str:
    """`{{name}}` substitution; a variable the item lacks is an error for that item, not an empty string."""

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        value: Any = variables
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                raise InvalidRequest(f"the item has no variable '{key}' for the prompt template")
            value = value[part]
        return as_text(value)

    return _VAR.sub(sub, template)


def build_messages(item_input: Any, template: list[dict[str, Any]] | None, system: str | None) -> list[dict[str, Any]]:
    """Messages for one item: a template rendered with the item's variables, then the item's own messages."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    if template:
        variables = variables_of(item_input)
        for m in template:
            messages.append({**m, "content": render(m["content"], variables)
                             if isinstance(m.get("content"), str) else m.get("content")})
    if isinstance(item_input, list):
        messages += item_input
    elif isinstance(item_input, dict) and isinstance(item_input.get("messages"), list):
        messages += item_input["messages"]
    elif isinstance(item_input, str) and not template:
        messages.append({"role": "user", "content": item_input})
    elif not template:
        raise InvalidRequest("the item's input is variables: give the target a 'messages' template")
    return messages


def check_spec(spec: Any) -> dict[str, Any]:
    if isinstance(spec, str):
        spec = {"type": "model", "model": spec}
    if not isinstance(spec, dict):
        raise InvalidRequest("a target is a model name or an object with a 'type'", param="target")
    spec = dict(spec)
    kind = spec.setdefault("type", "model")
    if kind in ("model", "fine_tune", "fine-tune"):
        spec["type"] = "model"
        if not isinstance(spec.get("model"), str) or not spec["model"]:
            raise InvalidRequest("a model target needs 'model'", param="target.model")
        template = spec.get("messages")
        if template is not None and (not isinstance(template, list) or not all(
                isinstance(m, dict) and m.get("role") and "content" in m for m in template)):
            raise InvalidRequest("target.messages is a list of {role, content} templates", param="target.messages")
        params = spec.get("params") or {}
        unknown = set(params) - _PARAMS
        if unknown:
            raise InvalidRequest(f"unknown target params: {', '.join(sorted(unknown))}", param="target.params")
        return spec
    if kind in ("prompt", "chain"):
        if not spec.get("name"):
            raise InvalidRequest(f"a {kind} target needs 'name'", param="target.name")
        _prompts_module(kind)
        return spec
    if kind == "callable":
        return spec
    raise InvalidRequest(f"target type is model, prompt, chain or callable, not '{kind}'", param="target.type")


def _prompts_module(kind: str) -> Any:
    """The hook for the prompt registry: `shipyard.prompts.eval_target(spec, platform)` when installed."""
    try:
        import shipyard.prompts as prompts
    except ImportError:
        prompts = None
    hook = getattr(prompts, "eval_target", None)
    if hook is None:
        raise InvalidRequest(f"{kind} targets need the prompt registry (shipyard.prompts), which this build "
                             "lacks; use a model target with an inline 'messages' template", param="target.type")
    return hook


def model_target(spec: dict[str, Any]) -> Target:
    model, template, system = spec["model"], spec.get("messages"), spec.get("system")
    params = dict(spec.get("params") or {})

    async def call(item_input: Any, env: Env) -> Output:
        body = {"model": model, "messages": build_messages(item_input, template, system), **params}
        t0 = time.perf_counter()
        answer = await env.complete(body)
        latency = (time.perf_counter() - t0) * 1000.0
        usage = answer.get("usage") or {}
        choices = answer.get("choices") or [{}]
        message = choices[0].get("message") or {}
        output = message.get("content")
        if output is None and message.get("tool_calls"):
            output = message["tool_calls"]
        pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
        return Output(output=output, latency_ms=latency, prompt_tokens=pt, completion_tokens=ct,
                      cost=usage.get("cost", price(env, model, pt, ct)))

    return call


def price(env: Env, model: str, prompt: int | None, completion: int | None) -> float | None:
    """What the call cost by the gateway's price table (gateway controls), when it has one."""
    controls = env.platform.services.get("controls") if env.platform is not None else None
    prices = getattr(controls, "prices", None)
    if prices is None or (prompt is None and completion is None):
        return None
    return prices.cost(model, prompt, completion)


def callable_target(fn: Callable[[Any], Any]) -> Target:
    """Wrap a user's function (sync or async, item input -> output) as a target."""
    import inspect

    async def call(item_input: Any, env: Env) -> Output:
        t0 = time.perf_counter()
        result = fn(item_input)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Output):
            return result
        return Output(output=result, latency_ms=(time.perf_counter() - t0) * 1000.0)

    return call


def build_target(spec: dict[str, Any], env: Env, fn: Callable[[Any], Any] | None = None) -> Target:
    kind = spec["type"]
    if kind == "model":
        return model_target(spec)
    if kind == "callable":
        if fn is None:
            raise InvalidRequest("a callable target runs only in the process that holds the function",
                                 param="target.type")
        return callable_target(fn)
    hook = _prompts_module(kind)
    return hook(spec, env.need_platform(f"a {kind} target"))
