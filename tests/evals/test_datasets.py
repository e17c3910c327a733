"""Datasets on SQLite and PostgreSQL: versions, import and export, items from traces, project scoping."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shipyard.errors import Conflict, InvalidRequest, NotFound
from shipyard.evals.datasets import Datasets, export_items, parse_file
from shipyard.store import Store
from shipyard.store.tables import Span


@pytest.fixture
def ds(store: Store) -> Datasets:
    return Datasets(store)


def test_versions_keep_every_past_state(ds: Datasets) -> None:
    ds.create("p1", "qa")
    v1 = ds.add_items("p1", "qa", [{"input": "a", "expected": "1"}, {"input": "b", "expected": "2"}])
    assert v1["version"] == 1 and v1["added"] == 2
    first, second = v1["ids"]
    ds.add_items("p1", "qa", [{"input": [{"role": "user", "content": "c"}], "ideal": ["3", "three"]}])
    ds.remove_items("p1", "qa", [first])
    edited = ds.update_item("p1", "qa", second, {"input": "b2", "expected": "22"})
    assert edited["version"] == 4
    now = ds.items("p1", "qa")
    assert [i["input"] for i in now["data"]] == ["b2", [{"role": "user", "content": "c"}]]
    assert now["data"][1]["expected"] == ["3", "three"]
    assert [i["input"] for i in ds.items("p1", "qa", version=1)["data"]] == ["a", "b"]
    assert [i["input"] for i in ds.items("p1", "qa", version=2)["data"]] == ["a", "b", [{"role": "user",
                                                                                          "content": "c"}]]
    assert ds.get("p1", "qa")["items"] == 2
    with pytest.raises(InvalidRequest, match="versions 0 to 4"):
        ds.items("p1", "qa", version=9)
    with pytest.raises(NotFound):
        ds.remove_items("p1", "qa", [first])  # already retired


def test_bad_items_store_nothing_and_names_are_unique(ds: Datasets) -> None:
    ds.create("p1", "qa")
    with pytest.raises(InvalidRequest, match="item 1: 'input' is required"):
        ds.add_items("p1", "qa", [{"input": "ok"}, {"expected": "no input"}])
    with pytest.raises(InvalidRequest, match="item 0: input message 0 needs a 'role'"):
        ds.add_items("p1", "qa", [{"input": [{"content": "x"}]}])
    assert ds.get("p1", "qa") == {**ds.get("p1", "qa"), "version": 0, "items": 0}
    with pytest.raises(Conflict):
        ds.create("p1", "qa")
    ds.create("p2", "qa")  # another project may use the name


def test_projects_never_see_each_others_datasets(ds: Datasets) -> None:
    d = ds.create("p1", "secret")
    ds.add_items("p1", "secret", [{"input": "x"}])
    for ref in ("secret", d["id"]):
        with pytest.raises(NotFound):
            ds.items("p2", ref)
    assert ds.list("p2") == []


def test_from_traces_takes_recorded_generations(ds: Datasets, store: Store) -> None:
    t = datetime.now(UTC)
    common = {"project_id": "p1", "start_time": t, "end_time": t, "status": "ok", "model": "gpt-x"}
    with store.session() as s:
        s.add(Span(id="span1", trace_id="trace1", kind="generation", name="chat.completions",
                   input=[{"role": "user", "content": "hi"}], output={"role": "assistant", "content": "hello"},
                   **common))
        s.add(Span(id="span2", trace_id="trace2", kind="generation", name="chat.completions",
                   input=[{"role": "user", "content": "bye"}], output={"role": "assistant", "content": "ciao"},
                   **common))
        s.add(Span(id="span3", trace_id="trace2", kind="retrieval", name="search", **common))
        s.add(Span(id="other", trace_id="trace3", kind="generation", name="chat.completions",
                   **{**common, "project_id": "p2"}, input=[{"role": "user", "content": "x"}]))
    ds.create("p1", "prod")
    out = ds.from_traces("p1", "prod", span_ids=["span1"], trace_ids=["trace2"])
    assert out["added"] == 2
    items = ds.items("p1", "prod")["data"]
    assert [(i["input"][0]["content"], i["expected"], i["source_span_id"]) for i in items] == [
        ("hi", "hello", "span1"), ("bye", "ciao", "span2")]
    with pytest.raises(NotFound, match="other"):
        ds.from_traces("p1", "prod", span_ids=["other"])  # another project's call


def test_jsonl_csv_and_openai_evals_round_trips() -> None:
    openai_samples = "\n".join(json.dumps(x) for x in [
        {"input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], "ideal": "4"},
        {"input": [{"role": "user", "content": "Colour of sky?"}], "ideal": ["blue", "Blue"]}])
    items = parse_file(openai_samples, "jsonl")
    assert items[0]["expected"] == "4" and items[1]["expected"] == ["blue", "Blue"]
    rows = [{"id": str(n), **i} for n, i in enumerate(items)]
    assert parse_file(export_items(rows, "openai"), "openai") == items
    assert parse_file(export_items(rows, "jsonl"), "jsonl") == items
    assert parse_file(export_items(rows, "csv"), "csv") == items

    csv_text = ('question,expected,metadata\nWhat is 2+2?,4,"{""topic"": ""math""}"\n'
                "Capital of France?,Paris,\n")
    got = parse_file(csv_text.encode(), "csv")
    assert got[0] == {"input": {"question": "What is 2+2?"}, "expected": "4", "context": None,
                      "metadata": {"topic": "math"}}
    with pytest.raises(InvalidRequest, match="needs messages"):
        export_items([{"id": "x", "input": {"question": "q"}, "expected": None}], "openai")


def test_bad_files_name_the_line() -> None:
    with pytest.raises(InvalidRequest, match="line 2: not JSON"):
        parse_file('{"input": "a"}\n{oops\n', "jsonl")
    with pytest.raises(InvalidRequest, match="line 1: 'input' is required"):
        parse_file('{"ideal": "4"}\n', "openai")
    with pytest.raises(InvalidRequest, match="no items"):
        parse_file("\n\n", "jsonl")
    with pytest.raises(InvalidRequest, match="format is one of"):
        parse_file("x", "xml")
