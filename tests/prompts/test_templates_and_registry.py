"""Templates (sandbox, variables) and the registry (versions, labels, diff, cache) on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.config import Settings
from shipyard.errors import InvalidRequest, NotFound
from shipyard.platform import Platform
from shipyard.prompts import template
from shipyard.prompts.service import PromptService, read_documents, to_document
from shipyard.store import Store


def chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}], **extra}


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ x.__class__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ x.append(1) }}",
])
def test_the_sandbox_refuses_python_internals(source: str) -> None:
    spec = template.normalize({"template": source, "variables": {"x": "any"}})
    with pytest.raises(InvalidRequest) as info:
        template.render(spec, {"x": []}, "prompt 'evil' v1")
    assert info.value.code in ("unsafe_template", "missing_variable", "render_failed")
    assert info.value.message.startswith("prompt 'evil' v1: ")


def test_no_file_system_access() -> None:
    spec = template.normalize({"template": "{% include '/etc/passwd' %}"})
    with pytest.raises(InvalidRequest, match="render"):
        template.render(spec, {})


def test_variables_are_declared_typed_and_defaulted() -> None:
    spec = template.normalize(chat("Hi {{ who }}, {{ n }} items{% for t in tags %} #{{ t }}{% endfor %}",
                                   variables={"who": "string", "n": {"type": "integer", "default": 2},
                                              "tags": {"type": "list", "default": []}}))
    assert template.render(spec, {"who": "Ann", "tags": ["a"]})["messages"][1]["content"] == "Hi Ann, 2 items #a"
    with pytest.raises(InvalidRequest, match="missing variable 'who'") as info:
        template.render(spec, {}, "prompt 'p' v3")
    assert info.value.param == "variables.who" and "prompt 'p' v3" in info.value.message
    with pytest.raises(InvalidRequest, match="variable 'n' must be of type integer, got str"):
        template.render(spec, {"who": "x", "n": "2"})
    with pytest.raises(InvalidRequest, match="variable 'n' must be of type integer, got bool"):
        template.render(spec, {"who": "x", "n": True})


@pytest.mark.parametrize("spec, expected", [
    (chat("{{ a }} {{ b }}", variables={"a": "string"}), "undeclared variable(s): b"),
    (chat("{% if %}"), "invalid template in messages[1].content"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0] must be"),
    ({"messages": []}, "non-empty list"),
    ({"template": "x", "colour": 1}, "unknown prompt field(s): colour"),
    (chat("x", variables={"a": "uuid"}), "unknown type 'uuid'"),
    (chat("x", variables={"a": {"type": "integer", "default": "one"}}), "must be of type integer"),
    (chat("x", params={"model": "y"}), "may not set 'model'"),
])
def test_invalid_prompts_are_refused_with_the_field(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        template.normalize(spec)
    assert expected in info.value.message


def test_text_prompts_and_inferred_variables() -> None:
    spec = template.normalize({"template": "Translate {{ text }} to {{ lang }}"})
    assert spec["type"] == "text" and spec["variables"] == {"lang": {"type": "any"}, "text": {"type": "any"}}
    rendered = template.render(spec, {"text": "hi", "lang": "fr", "extra": 1})
    assert rendered == {"text": "Translate hi to fr"}
    assert template.as_messages(rendered) == [{"role": "user", "content": "Translate hi to fr"}]


def test_versions_labels_rollback_diff_and_scoping(store: Store, settings: Settings) -> None:
    platform = Platform.build(settings)
    platform.store.dispose()
    platform.store = store
    prompts = PromptService(platform)
    reg = prompts.registry
    v1, created = prompts.push("p1", {"name": "support", **chat("Q: {{ q }}"), "model": "smollm2",
                                      "labels": ["production"], "message": "first"}, author="key-1")
    assert created and v1.version == 1 and v1.labels == ("latest", "production") and v1.author == "key-1"
    same, created = prompts.push("p1", {"name": "support", **chat("Q: {{ q }}"), "model": "smollm2"})
    assert not created and same.version == 1  # pushing unchanged content adds nothing
    v2, _ = prompts.push("p1", {"name": "support", **chat("Question: {{ q }}"), "model": "smollm2",
                                "params": {"temperature": 0.1}, "labels": ["staging"]})
    assert v2.version == 2
    assert reg.get("p1", "support").version == 2 and reg.get("p1", "support", "production").version == 1
    assert reg.get("p1", "support", "v1").spec["messages"][1]["content"] == "Q: {{ q }}"
    assert v1.spec == reg.get("p1", "support", 1).spec  # versions never change

    assert reg.get("p1", "support", "production", cached=True).version == 1
    reg.set_label("p1", "support", "production", 2)
    assert reg.get("p1", "support", "production", cached=True).version == 2  # the cache followed the move
    reg.set_label("p1", "support", "production", 1)  # rollback
    assert reg.get("p1", "support", "production").version == 1

    diff = reg.diff("p1", "support", 1, 2)
    assert "-  content: 'Q: {{ q }}'" in diff["diff"] and "+  content: 'Question: {{ q }}'" in diff["diff"]
    assert set(diff["changed"]) == {"messages", "params"} and not diff["identical"]
    assert reg.diff("p1", "support", 1, 1)["identical"]

    listed = reg.list("p1")
    assert listed[0]["name"] == "support" and listed[0]["labels"] == {"latest": 2, "production": 1, "staging": 2}
    assert [v.version for v in reg.versions("p1", "support")] == [2, 1]
    assert reg.list("p2") == []  # another project sees nothing
    with pytest.raises(NotFound):
        reg.get("p2", "support")
    with pytest.raises(NotFound, match="has no label 'canary'"):
        reg.get("p1", "support", "canary")
    with pytest.raises(NotFound, match="has no version 9"):
        reg.get("p1", "support", 9)
    with pytest.raises(InvalidRequest, match="cannot be moved"):
        reg.set_label("p1", "support", "latest", 1)
    with pytest.raises(InvalidRequest, match="name must be"):
        prompts.push("p1", {"name": "no spaces", **chat("x")})

    doc = to_document(reg.get("p1", "support", 1))
    assert doc["labels"] == ["production"] and doc["message"] == "first"
    reg.remove_label("p1", "support", "staging")
    assert "staging" not in reg.get("p1", "support").labels
    assert reg.delete("p1", "support") == 2
    with pytest.raises(NotFound):
        reg.get("p1", "support", cached=True)


def test_reading_prompt_files(tmp_path: Any) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "greet.yaml").write_text("messages:\n  - {role: user, content: 'Hi {{ who }}'}\n")
    (tmp_path / "two.yml").write_text("name: a\ntemplate: x\n---\nname: b\ntemplate: y\n")
    (tmp_path / "notes.txt").write_text("ignored")
    docs = read_documents([tmp_path])
    assert [d["name"] for _f, d in docs] == ["greet", "a", "b"]  # the file name is the default name
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(InvalidRequest, match="bad.yaml: not valid YAML"):
        read_documents([tmp_path])
    with pytest.raises(InvalidRequest, match="no such file"):
        read_documents([tmp_path / "missing"])
