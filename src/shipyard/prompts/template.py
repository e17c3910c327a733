"""Prompt templates: validation of a prompt spec and sandboxed Jinja2 rendering.

Used by the server, the gateway stage, the chains and the SDK (which renders locally), so it depends
on nothing but Jinja2. Templates run in `ImmutableSandboxedEnvironment`: no attribute starting with an
underscore, no mutation of passed values, no file system (there is no loader), and `StrictUndefined`
turns a misspelt variable into an error instead of an empty string.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from shipyard.errors import InvalidRequest

ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
ENV.filters["tojson"] = lambda value, indent=None: __import__("json").dumps(value, indent=indent, ensure_ascii=False)

TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,), "list": (list, tuple),
    "object": (dict,), "any": (object,),
}
ROLES = ("system", "developer", "user", "assistant", "tool")
SPEC_FIELDS = ("type", "messages", "template", "variables", "model", "params", "description", "tags")
MAX_TEMPLATE_CHARS = 200_000


def _syntax(source: str, where: str) -> set[str]:
    """Parse a template; its undeclared names are the variables it needs."""
    try:
        return set(meta.find_undeclared_variables(ENV.parse(source)))
    except TemplateSyntaxError as exc:
        raise InvalidRequest(f"invalid template in {where} (line {exc.lineno}): {exc.message}", param=where,
                             code="invalid_template") from exc


def template_sources(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, source) for every template string of a normalized spec."""
    if spec["type"] == "text":
        return [("template", spec["template"])]
    return [(f"messages[{i}].content", m["content"]) for i, m in enumerate(spec["messages"])]


def _variable(name: str, decl: Any) -> dict[str, Any]:
    if isinstance(decl, str):
        decl = {"type": decl}
    elif decl is None:
        decl = {}
    if not isinstance(decl, dict):
        raise InvalidRequest(f"variable '{name}' must be declared as a type name or an object like "
                             "{type: string, default: ...}", param=f"variables.{name}")
    out = {"type": decl.get("type", "string")}
    if out["type"] not in TYPES:
        raise InvalidRequest(f"variable '{name}' has unknown type '{out['type']}' (one of {', '.join(TYPES)})",
                             param=f"variables.{name}")
    if "default" in decl:
        check_type(name, decl["default"], out["type"])
        out["default"] = decl["default"]
    if decl.get("description"):
        out["description"] = str(decl["description"])
    return out


def normalize(spec: Any) -> dict[str, Any]:
    """Check a prompt spec and return it in canonical form; errors name the field at fault."""
    if not isinstance(spec, dict):
        raise InvalidRequest("a prompt must be an object with `messages` (chat) or `template` (text)")
    unknown = sorted(set(spec) - set(SPEC_FIELDS) - {"name", "labels", "message", "commit_message"})
    if unknown:
        raise InvalidRequest(f"unknown prompt field(s): {', '.join(unknown)}", param=unknown[0])
    kind = spec.get("type") or ("text" if "template" in spec and "messages" not in spec else "chat")
    out: dict[str, Any] = {"type": kind}
    if kind == "chat":
        messages = spec.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("a chat prompt needs `messages`: a non-empty list of {role, content}",
                                 param="messages")
        out["messages"] = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise InvalidRequest(f"messages[{i}] must be {{role: {'|'.join(ROLES)}, content: <template text>}}",
                                     param=f"messages[{i}]")
            out["messages"].append({"role": m["role"], "content": m["content"]})
    elif kind == "text":
        if not isinstance(spec.get("template"), str) or not spec["template"]:
            raise InvalidRequest("a text prompt needs `template`: a non-empty string", param="template")
        out["template"] = spec["template"]
    else:
        raise InvalidRequest("prompt `type` must be 'chat' or 'text'", param="type")
    used: set[str] = set()
    for where, source in template_sources(out):
        if len(source) > MAX_TEMPLATE_CHARS:
            raise InvalidRequest(f"{where} is longer than {MAX_TEMPLATE_CHARS} characters", param=where)
        used |= _syntax(source, where)
    declared = spec.get("variables")
    if declared is None:
        out["variables"] = {name: {"type": "any"} for name in sorted(used)}
    else:
        if isinstance(declared, list):
            declared = {str(n): None for n in declared}
        if not isinstance(declared, dict):
            raise InvalidRequest("`variables` must map names to types", param="variables")
        out["variables"] = {str(n): _variable(str(n), d) for n, d in declared.items()}
        missing = sorted(used - set(out["variables"]))
        if missing:
            raise InvalidRequest(f"the template uses undeclared variable(s): {', '.join(missing)}",
                                 param=f"variables.{missing[0]}", code="undeclared_variable")
    if spec.get("model") is not None and not isinstance(spec.get("model"), str):
        raise InvalidRequest("`model` must be a model name", param="model")
    out["model"] = spec.get("model")
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidRequest("`params` must be an object (temperature, max_tokens, ...)", param="params")
    for reserved in ("messages", "model", "stream", "prompt"):
        if reserved in params:
            raise InvalidRequest(f"`params` may not set '{reserved}'", param=f"params.{reserved}")
    out["params"] = params
    if spec.get("description"):
        out["description"] = str(spec["description"])
    if spec.get("tags"):
        out["tags"] = [str(t) for t in spec["tags"]] if isinstance(spec["tags"], list) else [str(spec["tags"])]
    return out


def check_type(name: str, value: Any, type_name: str) -> None:
    types = TYPES.get(type_name, (object,))
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types and type_name != "any")
    if not ok:
        raise InvalidRequest(f"variable '{name}' must be of type {type_name}, got {type(value).__name__}",
                             param=f"variables.{name}", code="invalid_variable")


def bind(spec: dict[str, Any], variables: dict[str, Any] | None, label: str = "prompt") -> dict[str, Any]:
    """The values to render with: declared defaults filled in, every value type-checked."""
    if not isinstance(variables, (dict, type(None))):
        raise InvalidRequest("`variables` must be an object", param="variables")
    given = dict(variables or {})
    out: dict[str, Any] = {}
    for name, decl in spec.get("variables", {}).items():
        if name in given:
            value = given.pop(name)
            check_type(name, value, decl["type"])
            out[name] = value
        elif "default" in decl:
            out[name] = decl["default"]
        else:
            raise InvalidRequest(f"missing variable '{name}' for {label}", param=f"variables.{name}",
                                 code="missing_variable")
    out.update(given)  # extra values are allowed: a chain passes everything it has
    return out


@lru_cache(maxsize=2048)
def _compiled(source: str) -> Template:
    """Compiling is most of a render's cost; a prompt's few templates are compiled once per process."""
    return ENV.from_string(source)


def render_string(source: str, values: dict[str, Any], where: str = "template") -> str:
    try:
        return _compiled(source).render(values)
    except TemplateSyntaxError as exc:
        raise InvalidRequest(f"invalid template in {where}: {exc.message}", param=where,
                             code="invalid_template") from exc
    except SecurityError as exc:
        raise InvalidRequest(f"the template in {where} tried something unsafe: {exc}", param=where,
                             code="unsafe_template") from exc
    except UndefinedError as exc:
        raise InvalidRequest(f"{where}: {exc.message}", param=where, code="missing_variable") from exc
    except Exception as exc:  # a template can fail in many small ways (a filter on the wrong type, ...)
        raise InvalidRequest(f"rendering {where} failed: {exc.__class__.__name__}: {exc}", param=where,
                             code="render_failed") from exc


def render(spec: dict[str, Any], variables: dict[str, Any] | None = None, label: str = "prompt") -> dict[str, Any]:
    """Render a normalized spec: `{"messages": [...]}` for chat, `{"text": ...}` for text prompts."""
    values = bind(spec, variables, label)
    try:
        if spec["type"] == "text":
            return {"text": render_string(spec["template"], values)}
        return {"messages": [{"role": m["role"], "content": render_string(m["content"], values, f"messages[{i}]")}
                             for i, m in enumerate(spec["messages"])]}
    except InvalidRequest as exc:
        exc.message = f"{label}: {exc.message}"
        exc.args = (exc.message,)
        raise


def as_messages(rendered: dict[str, Any]) -> list[dict[str, Any]]:
    """A rendered prompt as chat messages: a text prompt becomes one user message."""
    if "messages" in rendered:
        return rendered["messages"]
    return [{"role": "user", "content": rendered["text"]}]
