"""A spec is checked before anything runs, and every error names the step (or the input) at fault."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.chains import spec as chain_spec
from shipyard.chains.runner import check_inputs
from shipyard.chains.service import library
from shipyard.errors import InvalidRequest


def llm(name: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "llm", "model": "echo", "messages": [{"role": "user", "content": content}], **extra}


def error_of(spec: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        chain_spec.normalize(spec)
    return info.value


def test_steps_run_in_dependency_order_whatever_the_declaration_order() -> None:
    compiled = chain_spec.compile_spec({"inputs": {"q": "string"}, "steps": [
        llm("answer", "{{ draft }} and {{ facts }}"), llm("draft", "{{ q }}"), llm("facts", "{{ q }}")]})
    assert [s["name"] for s in chain_spec.order(compiled)] == ["draft", "facts", "answer"]


def test_unknown_reference_names_the_step_and_the_name() -> None:
    err = error_of({"inputs": {"q": "string"}, "steps": [llm("first", "{{ q }}"), llm("second", "{{ frist }}")]})
    assert "step 'second'" in err.message and "'frist'" in err.message and err.code == "unknown_reference"


def test_cycles_are_refused_with_the_cycle_spelled_out() -> None:
    err = error_of({"steps": [llm("a", "{{ c }}"), llm("b", "{{ a }}"), llm("c", "{{ b }}")]})
    assert err.code == "cycle" and "a -> c -> b -> a" in err.message
    assert error_of({"steps": [llm("me", "{{ me }}")]}).code == "cycle"


@pytest.mark.parametrize("step, expected", [
    ({"name": "s", "type": "sql"}, "unknown step type 'sql'"),
    ({"name": "s", "type": "llm", "model": "m"}, "exactly one of `prompt`"),
    ({"name": "s", "type": "llm", "messages": [{"role": "user", "content": "{% if %}"}]}, "step 's'"),
    ({"name": "s", "type": "llm", "messages": [{"role": "user", "content": "x"}], "schema": {"type": "nope"}},
     "not a valid JSON schema"),
    ({"name": "s", "type": "python", "function": "no_such_function"}, "no python step function named"),
    ({"name": "s", "type": "http"}, "needs a `url`"),
    ({"name": "s", "type": "map", "over": "x", "step": {"type": "llm"}}, "step 's'.step"),
    ({"name": "s", "type": "http", "url": "http://x", "timeout": 0}, "`timeout`"),
    ({"name": "s", "type": "http", "url": "http://x", "retry": {"attempts": 50}}, "retry.attempts"),
    ({"name": "bad name", "type": "http", "url": "http://x"}, "steps[0]"),
    ({"name": "s", "type": "http", "url": "http://x", "colour": "red"}, "unknown field(s) for a http step: colour"),
])
def test_bad_steps_are_named(step: dict[str, Any], expected: str) -> None:
    err = error_of({"inputs": {"x": "any"}, "steps": [step]})
    assert expected in err.message, err.message


def test_duplicate_names_and_input_clashes() -> None:
    assert "used twice" in error_of({"steps": [llm("a", "x"), llm("a", "y")]}).message
    assert "both an input and a step" in error_of({"inputs": {"a": "string"}, "steps": [llm("a", "x")]}).message


def test_map_alias_and_index_are_visible_inside_the_map_only() -> None:
    ok = {"inputs": {"items": "list"}, "steps": [{"name": "each", "type": "map", "over": "items", "as": "it",
                                                   "step": {"type": "llm", "model": "echo", "messages": [
                                                       {"role": "user", "content": "{{ index }}: {{ it }}"}]}}]}
    chain_spec.normalize(ok)
    leak = {**ok, "steps": [*ok["steps"], llm("after", "{{ it }}")]}
    assert "step 'after' references 'it'" in error_of(leak).message


def test_inputs_are_checked_before_a_run() -> None:
    compiled = chain_spec.compile_spec({"inputs": {"text": "string", "n": {"type": "integer", "default": 3}},
                                        "steps": [llm("s", "{{ text }} {{ n }}")]})
    assert check_inputs(compiled, {"text": "hi"}) == {"text": "hi", "n": 3}
    for inputs, expected in (({}, "missing input 'text'"), ({"text": 1}, "input 'text' must be of type string"),
                             ({"text": "a", "txet": "b"}, "unknown input 'txet'")):
        with pytest.raises(InvalidRequest, match=expected):
            check_inputs(compiled, inputs)


def test_the_stored_spec_is_the_spec_as_written() -> None:
    written = {"description": "d", "steps": [llm("a", "x")], "labels": ["production"], "name": "n"}
    stored = chain_spec.normalize(written)
    assert stored == {"description": "d", "steps": [llm("a", "x")]}
    assert "retry" not in stored["steps"][0] and "inline" not in stored["steps"][0]


@pytest.mark.parametrize("name", sorted(library()))
def test_every_library_chain_is_valid(name: str) -> None:
    compiled = chain_spec.compile_spec(library()[name])
    assert compiled["steps"] and compiled.get("description")
