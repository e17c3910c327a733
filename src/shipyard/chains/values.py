"""Values in a chain spec: templates over the chain's inputs and its steps' outputs.

A string holding exactly one `{{ expression }}` keeps the value's type (a list stays a list, a number a
number); any other string with template syntax renders to text; dicts and lists are resolved element by
element. Everything runs in the prompts' sandbox (`prompts.template.ENV`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, UndefinedError, meta
from jinja2.exceptions import SecurityError

from shipyard.errors import InvalidRequest
from shipyard.prompts.template import ENV, render_string

_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.S)


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@lru_cache(maxsize=4096)
def _expression(source: str) -> Any:
    return ENV.compile_expression(source, undefined_to_none=False)


def names_in(value: Any, where: str) -> set[str]:
    """Every name a value's templates read (for reference checking before a run)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            found |= names_in(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found |= names_in(v, f"{where}[{i}]")
    elif is_template(value):
        try:
            found = set(meta.find_undeclared_variables(ENV.parse(value)))
        except TemplateSyntaxError as exc:
            raise InvalidRequest(f"{where}: invalid template: {exc.message}", param=where,
                                 code="invalid_template") from exc
    return found


def expression_names(source: str, where: str) -> set[str]:
    """Names read by a bare expression (a `condition`, an `over`), written with or without braces."""
    text = source.strip()
    if not text.startswith("{{"):
        text = "{{ " + text + " }}"
    return names_in(text, where)


def evaluate(source: Any, values: dict[str, Any], where: str) -> Any:
    """A bare expression's value (`condition: score > 0.5`, `over: chunks`)."""
    if not isinstance(source, str):
        return source
    match = _SINGLE.match(source)
    expr = match.group("expr") if match else source
    try:
        out = _expression(expr.strip())(**values)
        if isinstance(out, Undefined):
            out._fail_with_undefined_error()
        return out
    except TemplateSyntaxError as exc:
        raise InvalidRequest(f"{where}: invalid expression: {exc.message}", param=where) from exc
    except SecurityError as exc:
        raise InvalidRequest(f"{where}: the expression tried something unsafe: {exc}", param=where,
                             code="unsafe_template") from exc
    except UndefinedError as exc:
        raise InvalidRequest(f"{where}: {exc.message}", param=where, code="missing_variable") from exc
    except Exception as exc:
        raise InvalidRequest(f"{where}: evaluating the expression failed: {exc.__class__.__name__}: {exc}",
                             param=where) from exc


def resolve(value: Any, values: dict[str, Any], where: str) -> Any:
    """A spec value with its templates filled in (see the module docstring)."""
    if isinstance(value, dict):
        return {k: resolve(v, values, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, values, f"{where}[{i}]") for i, v in enumerate(value)]
    if not is_template(value):
        return value
    if _SINGLE.match(value):
        return evaluate(value, values, where)
    return render_string(value, values, where)
