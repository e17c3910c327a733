"""Running a chain: inputs checked, steps in dependency order, one trace, one recorded run.

    from shipyard.chains.runner import run_chain
    result = await run_chain(platform, "summarize", "production", {"document": text}, principal)
    result["output"], result["steps"], result["trace_id"]

The run is a `chain` span; each step a child span (generation, retrieval, tool, chain), and the model
calls of llm steps are generation spans below those. Whatever happens, a `chain_runs` row is written:
with the output, or with the failing step, its error, and the outputs of the steps that finished.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from shipyard.auth import LOCAL_ADMIN, Principal
from shipyard.chains import spec as chain_spec
from shipyard.chains.steps import Emit, Run, execute
from shipyard.chains.values import resolve
from shipyard.errors import InvalidRequest, ShipyardError
from shipyard.observe.tracing import span
from shipyard.prompts import template
from shipyard.prompts.tables import ChainRun
from shipyard.store.tables import utcnow

if TYPE_CHECKING:
    from shipyard.platform import Platform

log = logging.getLogger(__name__)


def check_inputs(spec: dict[str, Any], inputs: Any) -> dict[str, Any]:
    """The inputs with defaults filled in; unknown, missing and wrongly typed inputs are named."""
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise InvalidRequest("`inputs` must be an object", param="inputs")
    declared = spec["inputs"]
    unknown = sorted(set(inputs) - set(declared))
    if unknown:
        raise InvalidRequest(f"unknown input '{unknown[0]}' (the chain takes: {', '.join(declared) or 'nothing'})",
                             param=f"inputs.{unknown[0]}", code="unknown_input")
    try:
        return template.bind({"variables": declared}, inputs, "the chain")
    except InvalidRequest as exc:
        raise InvalidRequest(exc.message.replace("variable", "input"), param=(exc.param or "").replace(
            "variables.", "inputs."), code=exc.code) from exc


def _streamable(spec: dict[str, Any]) -> str | None:
    """The step whose text can be streamed: the last one, an llm step without schema, that is the output."""
    last = spec["steps"][-1]
    if last["type"] != "llm" or "schema" in last:
        return None
    output = spec.get("output")
    if output is not None and (not isinstance(output, str) or output.replace(" ", "") != "{{" + last["name"] + "}}"):
        return None
    return last["name"]


async def run_spec(platform: Platform, spec: Any, inputs: dict[str, Any] | None = None,
                   principal: Principal = LOCAL_ADMIN, *, name: str = "inline", version: int | None = None,
                   emit: Emit | None = None, raise_on_error: bool = True) -> dict[str, Any]:
    """Run a chain spec (validated here). See `run_chain` for what comes back."""
    clean = chain_spec.compile_spec(copy.deepcopy(spec))
    values = check_inputs(clean, inputs)
    ordered = chain_spec.order(clean)
    run = Run(platform=platform, principal=principal, spec=clean, name=name, emit=emit,
              stream_step=_streamable(clean) if emit is not None else None,
              allow_hosts=[*clean.get("allow_hosts", []), *platform.settings.chain_http_allow_hosts])
    run_id = uuid.uuid4().hex
    outputs: dict[str, Any] = {}
    started = time.perf_counter()
    record: dict[str, Any] = {"object": "chain.run", "id": run_id, "chain": name, "version": version}
    failure: ShipyardError | None = None
    meta = {"chain": name, "version": version, "run_id": run_id}
    async with span("chain", f"chain {name}", input=values, metadata=meta, project_id=principal.project_id,
                    key_id=principal.key_id) as root:
        record["trace_id"] = root.trace_id
        try:
            for step in ordered:
                t0 = time.perf_counter()
                out = await execute(run, step, {**values, **outputs}, step["name"])
                outputs[step["name"]] = out
                if emit is not None:
                    await emit({"event": "step", "step": step["name"], "type": step["type"], "status": "ok",
                                "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
                                "output": None if step["name"] == run.stream_step else out})
            if "output" in clean:
                result = resolve(clean["output"], {**values, **outputs}, "output")
            else:
                result = outputs[clean["steps"][-1]["name"]]
            root.update(output=result)
            record.update(status="ok", output=result)
        except ShipyardError as exc:
            failure = exc
        except Exception as exc:  # a bug must still leave a recorded run and a readable error
            log.exception("chain %s failed unexpectedly", name)
            failure = ShipyardError(f"the chain failed unexpectedly: {exc.__class__.__name__}: {exc}")
            failure.status = 502
        if failure is not None:
            failure.extra.setdefault("step", None)
            failure.extra["run_id"] = run_id
            root.fail(failure)
            record.update(status="error", output=None, failed_step=failure.extra.get("step"),
                          error={"type": failure.type, "code": failure.code, "message": failure.message})
    record["steps"] = outputs
    record["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    await asyncio.to_thread(_save, platform, principal, record, values)
    if failure is not None and raise_on_error:
        raise failure
    return record


def _save(platform: Platform, principal: Principal, record: dict[str, Any], inputs: dict[str, Any]) -> None:
    from shipyard.observe.tracing import clip

    error = record.get("error") or {}
    try:
        with platform.store.session() as session:
            session.add(ChainRun(
                id=record["id"], project_id=principal.project_id, chain=record["chain"], version=record["version"],
                status=record["status"], inputs=clip(inputs), steps=clip(record["steps"]),
                output=clip(record.get("output")), failed_step=record.get("failed_step"),
                error_type=error.get("code") or error.get("type"), error_message=error.get("message"),
                trace_id=record.get("trace_id"), key_id=principal.key_id, latency_ms=record["latency_ms"],
                created_at=utcnow()))
    except Exception:  # the caller still gets the answer; the run history misses one entry
        log.exception("could not record chain run %s", record["id"])


async def run_chain(platform: Platform, name: str, version_or_label: Any = None, inputs: dict[str, Any] | None = None,
                    principal: Principal = LOCAL_ADMIN, *, emit: Emit | None = None,
                    raise_on_error: bool = True) -> dict[str, Any]:
    """Run a chain version from the registry (a number, a label, or latest).

    Returns {id, chain, version, status, output, steps (name -> output), trace_id, latency_ms}. A failed
    step raises its error (with `extra["step"]` and `extra["run_id"]`), or with `raise_on_error=False`
    comes back as status "error" with `failed_step` and `error`.
    """
    from shipyard.chains.service import chains_of

    found = await asyncio.to_thread(chains_of(platform).registry.get, principal.project_id, name, version_or_label,
                                    cached=True)
    return await run_spec(platform, found.spec, inputs, principal, name=name, version=found.version, emit=emit,
                          raise_on_error=raise_on_error)
