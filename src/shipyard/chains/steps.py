"""What each step kind does. `execute()` wraps every step in its span, its timeout and its retry policy,
and turns any failure into an error that names the step."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import jsonschema

from shipyard.auth import Principal
from shipyard.chains.functions import lookup
from shipyard.chains.spec import check_schema
from shipyard.chains.values import evaluate, resolve
from shipyard.errors import (
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ShipyardError,
    UpstreamError,
    UpstreamTimeout,
)
from shipyard.gateway.context import CallContext
from shipyard.observe.tracing import SpanHandle, span
from shipyard.prompts import template

if TYPE_CHECKING:
    from shipyard.platform import Platform

SPAN_KIND = {"llm": "generation", "retrieve": "retrieval", "http": "tool", "python": "tool", "branch": "chain",
             "map": "chain", "parallel": "chain"}
NOT_RETRIED = (InvalidRequest, NotFound, PermissionDenied)  # the same call would fail the same way
MAX_HTTP_BYTES = 10 * 1024 * 1024
Emit = Callable[[dict[str, Any]], Awaitable[None]]


class ChainError(ShipyardError):
    """A step failed in a way that is not an upstream's or the caller's fault (bad output, a raising function)."""

    status = 422
    type = "chain_error"
    code = "step_failed"


@dataclass
class Run:
    """One chain run in progress: what every step can see."""

    platform: Platform
    principal: Principal
    spec: dict[str, Any]
    name: str
    emit: Emit | None = None
    stream_step: str | None = None
    allow_hosts: list[str] = field(default_factory=list)


def step_error(label: str, kind: str, exc: BaseException) -> ShipyardError:
    """The error as the caller sees it: what failed, in which step (kept in `extra["step"]`)."""
    if isinstance(exc, ShipyardError):
        if "step" in exc.extra:
            return exc
        err = exc.__class__(f"step '{label}' ({kind}): {exc.message}", param=exc.param, code=exc.code,
                            headers=exc.headers, extra=dict(exc.extra))
        err.status = exc.status if exc.status < 500 or exc.status in (502, 503, 504) else 502
    else:
        err = ChainError(f"step '{label}' ({kind}) failed: {exc.__class__.__name__}: {exc}")
    err.extra["step"] = label
    return err


async def execute(run: Run, step: dict[str, Any], values: dict[str, Any], label: str) -> Any:
    kind = step["type"]
    retry = step["retry"]
    timeout = float(step.get("timeout") or run.platform.settings.chain_step_timeout)
    for attempt in range(1, retry["attempts"] + 1):
        try:
            async with span(SPAN_KIND[kind], label, metadata={"step": label, "type": kind, "attempt": attempt}) as s:
                try:
                    out = await asyncio.wait_for(EXECUTORS[kind](run, step, values, s, label), timeout)
                except TimeoutError as exc:
                    raise UpstreamTimeout(f"step '{label}' ({kind}) timed out after {timeout:g}s",
                                          code="step_timeout", extra={"step": label}) from exc
                s.update(output=out)
                return out
        except Exception as exc:
            err = step_error(label, kind, exc)
            nested = isinstance(exc, ShipyardError) and exc.extra.get("step", label) != label
            if attempt >= retry["attempts"] or isinstance(exc, NOT_RETRIED) or nested:
                raise err from exc
            await asyncio.sleep(retry["backoff"] * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


# -- llm ---------------------------------------------------------------------------------------------------
async def _llm(run: Run, step: dict[str, Any], values: dict[str, Any], s: SpanHandle, label: str) -> Any:
    variables = {**values, **resolve(step.get("variables", {}), values, f"step '{label}'.variables")}
    params = resolve(step.get("params", {}), values, f"step '{label}'.params")
    model = resolve(step.get("model"), values, f"step '{label}'.model")
    extra: dict[str, Any] = {"chain_step": label}
    if "prompt" in step:
        ref = step["prompt"]
        from shipyard.prompts.service import prompts_of

        registry = prompts_of(run.platform).registry
        version = await asyncio.to_thread(registry.get, run.principal.project_id, ref["name"], ref["version"],
                                          cached=True)
        rendered = template.render(version.spec, variables, f"prompt '{ref['name']}' v{version.version}")
        params = {**(version.spec.get("params") or {}), **params}
        model = model or version.spec.get("model")
        extra["prompt"] = {"name": ref["name"], "version": version.version}
        s.update(metadata={"prompt": extra["prompt"]})
    else:
        rendered = template.render(step["inline"], variables, f"step '{label}'")
    model = model or resolve(run.spec.get("model"), values, "model")
    if not model:
        raise InvalidRequest("no model: give the step a `model` (or the chain, or the prompt)", param="model")
    body: dict[str, Any] = {**params, "model": model, "messages": template.as_messages(rendered)}
    s.update(input=body["messages"], model=model)
    schema = resolve(step["schema"], values, f"step '{label}'.schema") if "schema" in step else None
    if schema is None:
        if run.emit is not None and run.stream_step == label:
            return await _stream(run, body, extra, s)
        answer = await run.platform.gateway.complete(body, run.principal, **extra)
        _usage(s, answer)
        return answer["choices"][0]["message"].get("content") or ""
    check_schema(schema, f"step '{label}'")
    body["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    answer = await run.platform.gateway.complete(body, run.principal, **extra)
    _usage(s, answer)
    content = answer["choices"][0]["message"].get("content") or ""
    value, problem = parse_json(content, schema)
    if problem is None:
        return value
    # One repair: show the model its answer and what is wrong with it.
    s.update(metadata={"repaired": True, "first_error": problem})
    body["messages"] = [*body["messages"], {"role": "assistant", "content": content},
                        {"role": "user", "content": f"That reply is not valid: {problem}. Reply again with only "
                                                    "the JSON value, matching the schema exactly."}]
    answer = await run.platform.gateway.complete(body, run.principal, **extra)
    _usage(s, answer)
    content = answer["choices"][0]["message"].get("content") or ""
    value, second = parse_json(content, schema)
    if second is not None:
        raise ChainError(f"the model's JSON is still invalid after a repair attempt: {second} (first answer: "
                         f"{problem})",
                         code="invalid_output", extra={"output": content[:2000]})
    return value


def parse_json(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """The value and None, or None and what is wrong (not JSON at all, or not matching the schema)."""
    body = text.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.S)
    if fenced:
        body = fenced.group(1)
    try:
        value = json.loads(body)
    except ValueError as exc:
        return None, f"not JSON ({exc.msg} at position {exc.pos})"
    errors = sorted(jsonschema.validators.validator_for(schema)(schema).iter_errors(value), key=lambda e: e.path)
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "the top level"
        return None, f"at {where}: {errors[0].message}"
    return value, None


def _usage(s: SpanHandle, answer: dict[str, Any]) -> None:
    usage = answer.get("usage") or {}
    previous = s.metadata.get("tokens", {"prompt": 0, "completion": 0})
    s.update(metadata={"tokens": {"prompt": previous["prompt"] + (usage.get("prompt_tokens") or 0),
                                  "completion": previous["completion"] + (usage.get("completion_tokens") or 0)}})


async def _stream(run: Run, body: dict[str, Any], extra: dict[str, Any], s: SpanHandle) -> str:
    """The final step, streamed to the caller as it is generated (through the gateway, traced)."""
    gateway = run.platform.gateway
    body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    ctx = CallContext(endpoint="chat.completions", body=body, principal=run.principal, extra=dict(extra))
    parts: list[str] = []
    try:
        batches = await gateway.open_stream(ctx)
        async for batch in batches:
            for chunk in batch:
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        parts.append(text)
                        await run.emit({"event": "delta", "step": s.name, "content": text})  # type: ignore[misc]
    except BaseException as exc:
        ctx.fail(exc)
        raise
    finally:
        gateway.finish(ctx)
    s.update(metadata={"tokens": {"prompt": ctx.prompt_tokens or 0, "completion": ctx.completion_tokens or 0}})
    return "".join(parts)


# -- retrieve ----------------------------------------------------------------------------------------------
def _vectors(platform: Platform) -> Any:
    try:
        from shipyard.vectors.service import VectorService
    except ImportError as exc:
        raise InvalidRequest("vector search is not available in this installation") from exc
    return VectorService(platform)


async def _retrieve(run: Run, step: dict[str, Any], values: dict[str, Any], s: SpanHandle, label: str) -> Any:
    where = f"step '{label}'"
    query = resolve(step["query"], values, f"{where}.query")
    top_k = resolve(step["top_k"], values, f"{where}.top_k")
    filters = resolve(step.get("filters"), values, f"{where}.filters")
    collection = resolve(step["collection"], values, f"{where}.collection")
    s.update(input={"collection": collection, "query": query, "top_k": top_k, "filters": filters})
    if not isinstance(query, str) or not query.strip():
        raise InvalidRequest("the query rendered empty", param=f"{where}.query")
    vectors = run.platform.service("vectors", _vectors)
    hits = await vectors.search(collection, query, top_k=int(top_k), filters=filters,
                                project_id=run.principal.project_id)
    return [_hit(h) for h in hits]


def _hit(hit: Any) -> dict[str, Any]:
    if isinstance(hit, dict):
        return dict(hit)
    if hasattr(hit, "as_dict"):
        return hit.as_dict()
    return {k: getattr(hit, k, None) for k in ("id", "text", "score", "metadata")}


# -- http --------------------------------------------------------------------------------------------------
def host_allowed(url: str, allowed: list[str]) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    for entry in allowed:
        entry = entry.lower().strip()
        name, _, want_port = entry.partition(":")
        if want_port and str(port or (443 if parts.scheme == "https" else 80)) != want_port:
            continue
        if name == host or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


async def _http(run: Run, step: dict[str, Any], values: dict[str, Any], s: SpanHandle, label: str) -> Any:
    where = f"step '{label}'"
    url = resolve(step["url"], values, f"{where}.url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise InvalidRequest(f"the url must be an absolute http(s) URL (got {str(url)[:200]!r})", param=f"{where}.url")
    allowed = [*step.get("allow_hosts", []), *run.allow_hosts]
    if not host_allowed(url, allowed):
        raise InvalidRequest(f"host '{urlsplit(url).hostname}' is not in the allow-list "
                             f"({', '.join(allowed) or 'empty: add allow_hosts to the step or the chain'}); "
                             "no request was made", param=f"{where}.url", code="host_not_allowed")
    headers = {str(k): str(v) for k, v in (resolve(step.get("headers", {}), values, f"{where}.headers")).items()}
    params = resolve(step.get("params"), values, f"{where}.params")
    kwargs: dict[str, Any] = {"headers": headers, "params": params}
    if "json" in step:
        kwargs["json"] = resolve(step["json"], values, f"{where}.json")
    elif "body" in step:
        body = resolve(step["body"], values, f"{where}.body")
        kwargs["content"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
    s.update(input={"method": step["method"], "url": url, "json": kwargs.get("json")})
    # No redirects: a redirect could lead outside the allow-list.
    async with httpx.AsyncClient(follow_redirects=False, timeout=step.get("timeout") or 30.0) as client:
        try:
            response = await client.request(step["method"], url, **kwargs)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"{url} did not answer in time", code="step_timeout") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{step['method']} {url} failed: {exc.__class__.__name__}: {exc}") from exc
    s.update(metadata={"status_code": response.status_code})
    if len(response.content) > MAX_HTTP_BYTES:
        raise UpstreamError(f"{url} answered more than {MAX_HTTP_BYTES} bytes")
    if response.status_code >= 400:
        err = UpstreamError(f"{step['method']} {url} answered {response.status_code}: {response.text[:300]}")
        if response.status_code < 500 and response.status_code != 429:
            err = InvalidRequest(err.message, code="http_error")  # retrying a 4xx changes nothing
        raise err
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


# -- python, branch, map, parallel -----------------------------------------------------------------------
async def _python(run: Run, step: dict[str, Any], values: dict[str, Any], s: SpanHandle, label: str) -> Any:
    fn = lookup(step["function"])
    args = resolve(step.get("args", {}), values, f"step '{label}'.args")
    s.update(input=args, metadata={"function": step["function"]})
    try:
        inspect.signature(fn).bind(**args)
    except TypeError as exc:
        raise InvalidRequest(f"function '{step['function']}' cannot take these args: {exc}",
                             param=f"step '{label}'.args") from exc
    if inspect.iscoroutinefunction(fn):
        return await fn(**args)
    return await asyncio.to_thread(fn, **args)


async def _branch(run: Run, step: dict[str, Any], values: dict[str, Any], s: SpanHandle, label: str) -> Any:
    taken = bool(evaluate(step["condition"], values, f"step '{label}'.condition"))
    s.update(input={"condition": step["condition"]}, metadata={"taken": "then" if taken else "else"})
    if taken:
        return await execute(run, step["then"], values, f"{label}.then")
    if "else" in step:
        return await execute(run, step["else"], values, f"{label}.else")
    return None


async def _gather(awaitables: list[Awaitable[Any]]) -> list[Any]:
    """All results, or the first failure with the others cancelled (no half-finished siblings left running)."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _map(run: Run, step: dict[str, Any], values: dict[str, Any], s: SpanHandle, label: str) -> Any:
    items = evaluate(step["over"], values, f"step '{label}'.over")
    if isinstance(items, dict):
        items = list(items.items())
    if not isinstance(items, (list, tuple)):
        raise InvalidRequest(f"`over` must give a list, got {type(items).__name__}", param=f"step '{label}'.over")
    s.update(input={"items": len(items)}, metadata={"concurrency": step["concurrency"]})
    gate = asyncio.Semaphore(step["concurrency"])

    async def one(i: int, item: Any) -> Any:
        async with gate:
            return await execute(run, step["step"], {**values, step["as"]: item, "index": i}, f"{label}[{i}]")

    return await _gather([one(i, item) for i, item in enumerate(items)])


async def _parallel(run: Run, step: dict[str, Any], values: dict[str, Any], s: SpanHandle, label: str) -> Any:
    subs = step["steps"]
    results = await _gather([execute(run, sub, values, f"{label}.{sub['name']}") for sub in subs])
    return {sub["name"]: out for sub, out in zip(subs, results, strict=True)}


EXECUTORS: dict[str, Callable[..., Awaitable[Any]]] = {
    "llm": _llm, "retrieve": _retrieve, "http": _http, "python": _python, "branch": _branch, "map": _map,
    "parallel": _parallel,
}
