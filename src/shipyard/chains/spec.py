"""A chain spec, checked before anything runs.

    description: Summarize a long document
    inputs:
      document: string
      model: {type: string, default: smollm2}
    steps:
      - name: chunks
        type: python
        function: split_text
        args: {text: "{{ document }}", size: 1500}
      - name: partials
        type: map
        over: chunks
        as: chunk
        concurrency: 2
        step: {type: llm, model: "{{ model }}", messages: [{role: user, content: "Summarize: {{ chunk }}"}]}
      - name: summary
        type: llm
        prompt: {name: reduce-summaries, label: production}
    output: "{{ summary }}"        # optional: the last step's output by default

Steps read the inputs and earlier steps' outputs by name. The checks name the step at fault: unknown
step types and fields, references to names that are neither an input nor a step, cycles between steps,
unparseable templates and expressions, invalid JSON schemas, unknown python functions, static URLs
outside the allow-list. Steps run in dependency order (declaration order among equals).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from shipyard.chains.values import expression_names, is_template, names_in
from shipyard.errors import InvalidRequest
from shipyard.prompts import template

KINDS = ("llm", "retrieve", "http", "python", "branch", "map", "parallel")
COMMON = ("name", "type", "retry", "timeout", "description")
FIELDS: dict[str, tuple[str, ...]] = {
    "llm": ("prompt", "messages", "template", "variables", "model", "params", "schema"),
    "retrieve": ("collection", "query", "top_k", "filters"),
    "http": ("url", "method", "headers", "json", "body", "params", "allow_hosts"),
    "python": ("function", "args"),
    "branch": ("condition", "then", "else"),
    "map": ("over", "as", "step", "concurrency"),
    "parallel": ("steps",),
}
TOP = ("description", "inputs", "steps", "output", "model", "allow_hosts", "tags")
MAX_STEPS = 200
MAX_CONCURRENCY = 32


def _fail(where: str, message: str, code: str = "invalid_chain") -> InvalidRequest:
    return InvalidRequest(f"{where}: {message}", param=where, code=code)


def _retry(step: dict[str, Any], where: str) -> dict[str, Any]:
    raw = step.get("retry")
    if raw is None:
        return {"attempts": 1, "backoff": 0.5}
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"attempts": raw + 1}
    if not isinstance(raw, dict):
        raise _fail(where, "`retry` is a number of retries or {attempts, backoff}")
    attempts, backoff = raw.get("attempts", 1), raw.get("backoff", 0.5)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 10:
        raise _fail(where, "`retry.attempts` must be between 1 and 10")
    if not isinstance(backoff, (int, float)) or not 0 <= backoff <= 60:
        raise _fail(where, "`retry.backoff` must be between 0 and 60 seconds")
    return {"attempts": attempts, "backoff": float(backoff)}


def _step(raw: Any, where: str, named: bool) -> dict[str, Any]:
    """One step in canonical form (sub-steps of branch/map/parallel included)."""
    if not isinstance(raw, dict):
        raise _fail(where, "a step must be an object with a `type`")
    kind = raw.get("type")
    if kind not in KINDS:
        raise _fail(where, f"unknown step type {kind!r} (one of {', '.join(KINDS)})", "unknown_step_type")
    if named:
        name = raw.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            raise _fail(where, "every step needs a `name` usable in templates (letters, digits, _)")
        where = f"step '{name}'"
    unknown = sorted(set(raw) - set(COMMON) - set(FIELDS[kind]))
    if unknown:
        raise _fail(where, f"unknown field(s) for a {kind} step: {', '.join(unknown)}")
    step: dict[str, Any] = {k: v for k, v in raw.items() if v is not None}
    step["retry"] = _retry(raw, where)
    timeout = raw.get("timeout")
    if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool)
                                or not 0 < timeout <= 3600):
        raise _fail(where, "`timeout` must be between 0 and 3600 seconds")
    return _KIND_CHECKS[kind](step, where)


def _llm(step: dict[str, Any], where: str) -> dict[str, Any]:
    sources = [k for k in ("prompt", "messages", "template") if k in step]
    if len(sources) != 1:
        raise _fail(where, "an llm step takes exactly one of `prompt` (a registry reference), `messages` or "
                           "`template`")
    if "prompt" in step:
        ref = step["prompt"]
        if isinstance(ref, str):
            name, _, version = ref.partition("@")
            ref = {"name": name, **({"version": version} if version else {})}
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or not ref["name"]:
            raise _fail(where, "`prompt` is a registry reference: NAME, NAME@label or {name, label|version}")
        step["prompt"] = {"name": ref["name"], "version": ref.get("version", ref.get("label"))}
    else:
        try:
            inline = template.normalize({k: step[k] for k in ("messages", "template") if k in step})
        except InvalidRequest as exc:
            raise _fail(where, exc.message, exc.code or "invalid_template") from exc
        step["inline"] = inline
    if "variables" in step and not isinstance(step["variables"], dict):
        raise _fail(where, "`variables` must be an object")
    if "params" in step and not isinstance(step["params"], dict):
        raise _fail(where, "`params` must be an object (temperature, max_tokens, ...)")
    schema = step.get("schema")
    if schema is not None:
        if not isinstance(schema, dict) and not is_template(schema):
            raise _fail(where, "`schema` must be a JSON schema object (or a template giving one)")
        if not names_in(schema, f"{where}.schema"):
            check_schema(schema, where)
    return step


def check_schema(schema: Any, where: str) -> None:
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise _fail(where, f"`schema` is not a valid JSON schema: {exc.message}", "invalid_schema") from exc


def _retrieve(step: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(step.get("collection"), str) or not step["collection"]:
        raise _fail(where, "a retrieve step needs a `collection`")
    if not isinstance(step.get("query"), str) or not step["query"]:
        raise _fail(where, "a retrieve step needs a `query` (a template)")
    top_k = step.setdefault("top_k", 5)
    if not is_template(top_k) and (not isinstance(top_k, int) or not 1 <= top_k <= 100):
        raise _fail(where, "`top_k` must be between 1 and 100")
    return step


def _http(step: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(step.get("url"), str) or not step["url"]:
        raise _fail(where, "an http step needs a `url`")
    step["method"] = str(step.get("method", "GET")).upper()
    if step["method"] not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
        raise _fail(where, f"unsupported method {step['method']}")
    hosts = step.get("allow_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise _fail(where, "`allow_hosts` must be a list of host names")
    if "json" in step and "body" in step:
        raise _fail(where, "give `json` or `body`, not both")
    return step


def _python(step: dict[str, Any], where: str) -> dict[str, Any]:
    from shipyard.chains.functions import lookup

    if not isinstance(step.get("function"), str):
        raise _fail(where, "a python step needs a `function` (a registered name)")
    try:
        lookup(step["function"])
    except InvalidRequest as exc:
        raise _fail(where, exc.message, "unknown_function") from exc
    if "args" in step and not isinstance(step["args"], dict):
        raise _fail(where, "`args` must be an object of keyword arguments")
    return step


def _branch(step: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(step.get("condition"), (str, bool)):
        raise _fail(where, "a branch step needs a `condition` (an expression)")
    if "then" not in step:
        raise _fail(where, "a branch step needs `then` (a step)")
    step["then"] = _step(step["then"], f"{where}.then", named=False)
    if "else" in step:
        step["else"] = _step(step["else"], f"{where}.else", named=False)
    return step


def _map(step: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(step.get("over"), str):
        raise _fail(where, "a map step needs `over` (an expression giving a list)")
    alias = step.setdefault("as", "item")
    if not isinstance(alias, str) or not alias.isidentifier():
        raise _fail(where, "`as` must be a name")
    concurrency = step.setdefault("concurrency", 4)
    if not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise _fail(where, f"`concurrency` must be between 1 and {MAX_CONCURRENCY}")
    if "step" not in step:
        raise _fail(where, "a map step needs `step` (what to do with each element)")
    step["step"] = _step(step["step"], f"{where}.step", named=False)
    return step


def _parallel(step: dict[str, Any], where: str) -> dict[str, Any]:
    subs = step.get("steps")
    if not isinstance(subs, list) or not subs:
        raise _fail(where, "a parallel step needs `steps`: a list of named steps")
    step["steps"] = [_step(s, f"{where}.steps[{i}]", named=True) for i, s in enumerate(subs)]
    names = [s["name"] for s in step["steps"]]
    if len(set(names)) != len(names):
        raise _fail(where, "the steps of a parallel step need distinct names")
    return step


_KIND_CHECKS = {"llm": _llm, "retrieve": _retrieve, "http": _http, "python": _python, "branch": _branch,
                "map": _map, "parallel": _parallel}


def reads(step: dict[str, Any], where: str) -> set[str]:
    """The names a step's templates read (of its sub-steps too; a map's own `as` name excluded)."""
    kind = step["type"]
    names: set[str] = set()
    for key in FIELDS[kind]:
        if key not in step or key in ("then", "else", "step", "steps", "as", "concurrency", "prompt"):
            continue
        if key in ("condition", "over"):
            if isinstance(step[key], str):
                names |= expression_names(step[key], f"{where}.{key}")
        elif key in ("messages", "template"):
            names |= set(step["inline"]["variables"]) - set(step.get("variables", {}))
        else:
            names |= names_in(step[key], f"{where}.{key}")
    for key in ("then", "else", "step"):
        if key in step:
            names |= reads(step[key], f"{where}.{key}")
    for sub in step.get("steps", []) if kind == "parallel" else []:
        names |= reads(sub, f"{where}.{sub['name']}")
    if kind == "map":
        names -= {step["as"], "index"}
    return names


def normalize(spec: Any) -> dict[str, Any]:
    """Check a chain spec; what the registry stores is the spec as written (minus file metadata)."""
    compile_spec(copy.deepcopy(spec))
    return copy.deepcopy({k: spec[k] for k in TOP if k in spec})


def compile_spec(spec: Any) -> dict[str, Any]:
    """Check a chain spec and expand it for running (defaults filled in, inline prompts parsed)."""
    if not isinstance(spec, dict):
        raise InvalidRequest("a chain spec must be an object with `steps`")
    unknown = sorted(set(spec) - set(TOP) - {"name", "labels", "message", "commit_message"})
    if unknown:
        raise InvalidRequest(f"unknown chain field(s): {', '.join(unknown)}", param=unknown[0])
    raw_inputs = spec.get("inputs") or {}
    if isinstance(raw_inputs, list):
        raw_inputs = {str(n): None for n in raw_inputs}
    if not isinstance(raw_inputs, dict):
        raise InvalidRequest("`inputs` must map names to types", param="inputs")
    inputs = template.normalize({"template": "x", "variables": raw_inputs})["variables"] if raw_inputs else {}
    for name in inputs:
        if not name.isidentifier():
            raise InvalidRequest(f"input name {name!r} must be usable in templates (letters, digits, _)",
                                 param=f"inputs.{name}")
    raw_steps = spec.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise InvalidRequest("a chain needs `steps`: a non-empty list", param="steps")
    if len(raw_steps) > MAX_STEPS:
        raise InvalidRequest(f"a chain has at most {MAX_STEPS} steps", param="steps")
    steps = [_step(s, f"steps[{i}]", named=True) for i, s in enumerate(raw_steps)]
    names = [s["name"] for s in steps]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidRequest(f"step name(s) used twice: {', '.join(dupes)}", param="steps", code="invalid_chain")
    clash = sorted(set(names) & set(inputs))
    if clash:
        raise InvalidRequest(f"'{clash[0]}' is both an input and a step name", param="steps", code="invalid_chain")
    out: dict[str, Any] = {"inputs": inputs, "steps": steps}
    for key in ("description", "model", "allow_hosts", "tags", "output"):
        if spec.get(key) is not None:
            out[key] = spec[key]
    hosts = out.get("allow_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise InvalidRequest("`allow_hosts` must be a list of host names", param="allow_hosts")
    order(out)  # references and cycles
    return out


def order(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps in an order that respects their references; unknown names and cycles are errors."""
    steps = spec["steps"]
    known = set(spec["inputs"]) | {s["name"] for s in steps}
    deps: dict[str, set[str]] = {}
    for step in steps:
        where = f"step '{step['name']}'"
        used = reads(step, where)
        if "model" in spec and is_template(spec["model"]):
            used |= names_in(spec["model"], "model")
        missing = sorted(used - known)
        if missing:
            raise InvalidRequest(f"{where} references '{missing[0]}', which is neither an input nor a step "
                                 f"(inputs: {', '.join(spec['inputs']) or 'none'})", param=where,
                                 code="unknown_reference")
        deps[step["name"]] = used & {s["name"] for s in steps}
    if "output" in spec:
        missing = sorted(names_in(spec["output"], "output") - known)
        if missing:
            raise InvalidRequest(f"`output` references '{missing[0]}', which is neither an input nor a step",
                                 param="output", code="unknown_reference")
    done: list[dict[str, Any]] = []
    placed: set[str] = set()
    pending = list(steps)
    while pending:
        ready = [s for s in pending if deps[s["name"]] <= placed]
        if not ready:
            cycle = _cycle(deps, [s["name"] for s in pending])
            raise InvalidRequest(f"the steps form a cycle: {' -> '.join(cycle)}", param=f"step '{cycle[0]}'",
                                 code="cycle")
        for s in ready:
            done.append(s)
            placed.add(s["name"])
        pending = [s for s in pending if s["name"] not in placed]
    return done


def _cycle(deps: dict[str, set[str]], pending: list[str]) -> list[str]:
    """One cycle among the steps left over, for the error message."""
    start = pending[0]
    path, node = [start], start
    while True:
        node = sorted(d for d in deps[node] if d in pending)[0]
        if node in path:
            return [*path[path.index(node):], node]
        path.append(node)
