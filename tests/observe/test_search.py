"""Search, pagination, trace trees, aggregates and retention, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from shipyard.errors import InvalidRequest, NotFound
from shipyard.observe import search
from shipyard.observe.retention import purge
from shipyard.observe.scores import add_score, list_scores
from shipyard.observe.stats import stats
from shipyard.observe.tables import Score
from shipyard.store.tables import Span, Trace
from tests.observe.factory import span_row, write

NOW = datetime.now(UTC).replace(microsecond=0)


def test_filters_and_keyset_pages(store) -> None:
    rows = [span_row(start=NOW - timedelta(minutes=i), model="a" if i % 2 else "b",
                     status="error" if i % 5 == 0 else "ok", session_id="s1" if i < 4 else None,
                     user_id="u7" if i == 3 else None, key_id="k1" if i < 10 else "k2",
                     metadata={"env": "prod" if i % 3 == 0 else "dev"}) for i in range(25)]
    rows.append(span_row(start=NOW, model="b", project_id="other"))
    write(store, rows)
    seen, cursor = [], None
    while True:
        page = search.list_traces(store, "default", search.Filters(), cursor=cursor, limit=7)
        seen += [t["id"] for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 25 == len(set(seen))  # every trace once, none from the other project
    assert seen == [r["trace_id"] for r in sorted(rows[:25], key=lambda r: r["start_time"], reverse=True)]
    f = search.Filters
    assert len(search.list_traces(store, "default", f(model="a"))["data"]) == 12
    assert len(search.list_traces(store, "default", f(status="error"))["data"]) == 5
    assert len(search.list_traces(store, "default", f(session_id="s1"))["data"]) == 4
    assert [t["user_id"] for t in search.list_traces(store, "default", f(user_id="u7"))["data"]] == ["u7"]
    assert len(search.list_traces(store, "default", f(key_id="k2"))["data"]) == 15
    assert len(search.list_spans(store, "default", f(metadata={"env": "prod"}))["data"]) == 9
    window = search.list_spans(store, "default", f(since=NOW - timedelta(minutes=4, seconds=30),
                                                   until=NOW - timedelta(minutes=1, seconds=30)))
    assert len(window["data"]) == 3
    page = search.list_traces(store, "default", f(model="a"), limit=50)["data"][0]
    assert page["models"] == ["a"] and page["spans"] == 1 and page["prompt_tokens"] == 10
    with pytest.raises(InvalidRequest):
        search.list_traces(store, "default", f(), cursor="garbage!")
    with pytest.raises(InvalidRequest):
        f(status="maybe")


def test_full_text_search_in_inputs_and_outputs(store) -> None:
    write(store, [span_row(prompt="Where is the lighthouse keeper?"), span_row(answer="The harbour is closed"),
                  span_row(prompt="unrelated words")])
    f = search.Filters
    hits = search.list_spans(store, "default", f(q="lighthouse"), content=True)["data"]
    assert len(hits) == 1 and "lighthouse" in hits[0]["input"][0]["content"]
    assert len(search.list_traces(store, "default", f(q="harbour closed"))["data"]) == 1
    assert search.list_traces(store, "default", f(q="harbour lighthouse"))["data"] == []  # every word must match
    assert search.list_spans(store, "default", f(q='"); drop table spans; --'))["data"] == []


def test_trace_tree_with_scores(store) -> None:
    root = span_row(kind="chain", model=None, prompt="q")
    child = span_row(trace_id=root["trace_id"], parent_id=root["id"], kind="retrieval", model=None,
                     start=root["start_time"] + timedelta(milliseconds=1))
    grandchild = span_row(trace_id=root["trace_id"], parent_id=child["id"],
                          start=root["start_time"] + timedelta(milliseconds=2))
    write(store, [root, child, grandchild])
    add_score(store, trace_id=root["trace_id"], name="thumbs", value=True, source="end-user", comment="good")
    add_score(store, trace_id=root["trace_id"], span_id=grandchild["id"], name="faithfulness", value=0.8,
              source="evaluator")
    tree = search.get_trace(store, "default", root["trace_id"])
    assert tree["span_count"] == 3 and len(tree["spans"]) == 1
    assert tree["spans"][0]["children"][0]["children"][0]["id"] == grandchild["id"]
    assert {s["name"]: s["value"] for s in tree["scores"]} == {"thumbs": True, "faithfulness": 0.8}
    assert [s["name"] for s in list_scores(store, "default", source="evaluator")] == ["faithfulness"]
    with pytest.raises(NotFound):
        search.get_trace(store, "other", root["trace_id"])
    with pytest.raises(InvalidRequest):
        add_score(store, trace_id=root["trace_id"], name="x", value=float("nan"))


def test_stats_per_bucket_and_model(store) -> None:
    base = NOW.replace(minute=0, second=0) - timedelta(hours=2)
    rows = []
    for i in range(100):
        rows.append(span_row(start=base + timedelta(minutes=i % 60), model="a", latency=10.0 + i))
    for i in range(20):
        rows.append(span_row(start=base + timedelta(hours=1, minutes=i), model="b", latency=500.0,
                             status="error" if i < 5 else "ok"))
    write(store, rows)
    out = stats(store, "default", since=base, until=base + timedelta(hours=2), bucket="hour")
    by = {(r["bucket"][:13], r["model"]): r for r in out["series"]}
    first = by[(base.isoformat()[:13], "a")]
    assert first["requests"] == 100 and first["errors"] == 0 and first["prompt_tokens"] == 1000
    assert 55 <= first["latency_p50_ms"] <= 66 and 98 <= first["latency_p95_ms"] <= 115
    second = by[((base + timedelta(hours=1)).isoformat()[:13], "b")]
    assert second["requests"] == 20 and second["errors"] == 5 and 470 <= second["latency_p50_ms"] <= 530
    assert out["total"]["requests"] == 120 and out["models"] == ["a", "b"]
    minutes = stats(store, "default", since=base, until=base + timedelta(hours=1), bucket="minute", model="a")
    assert len(minutes["series"]) == 60
    with pytest.raises(InvalidRequest):
        stats(store, "default", bucket="week")


def test_retention_really_deletes(store) -> None:
    old = span_row(start=NOW - timedelta(days=40))
    old_child = span_row(trace_id=old["trace_id"], parent_id=old["id"], start=old["start_time"])
    orphan = span_row(start=NOW - timedelta(days=40), parent_id="f" * 16)  # root owned by a caller
    fresh = span_row(start=NOW - timedelta(days=1))
    write(store, [old, old_child, orphan, fresh])
    add_score(store, trace_id=old["trace_id"], name="x", value=1)
    counts = purge(store, NOW - timedelta(days=30))
    assert counts == {"traces": 1, "spans": 3, "scores": 1}
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Span)) == 1
        assert list(s.scalars(select(Trace.id))) == [fresh["trace_id"]]
        assert s.scalar(select(func.count()).select_from(Score)) == 0
    # the search index forgot them too
    assert search.list_spans(store, "default", search.Filters(q="hello"))["data"][0]["id"] == fresh["id"]


def test_rollups_rebuild_from_spans_matches_the_live_ones(store) -> None:
    from shipyard.observe import rollups, tracing

    rows = [span_row(start=NOW - timedelta(minutes=i), latency=5.0 * (i + 1), model=f"m{i % 3}") for i in range(60)]
    write(store, rows)
    live = stats(store, "default", since=NOW - timedelta(hours=2), bucket="minute")
    with store.engine.begin() as conn:
        for table, _grain in rollups.GRAINS:
            conn.execute(table.delete())
        conn.execute(tracing.SPANS.insert(), [span_row(start=NOW - timedelta(minutes=1), model="m0")])
    assert stats(store, "default", since=NOW - timedelta(hours=2))["total"]["requests"] == 0
    with store.engine.begin() as conn:
        assert rollups.rebuild(conn) == 61
    hourly = stats(store, "default", since=NOW - timedelta(hours=2), bucket="hour")
    assert hourly["total"]["requests"] == 61 and len(hourly["series"]) <= 3 * 3
    rebuilt = stats(store, "default", since=NOW - timedelta(hours=2), bucket="minute")
    assert rebuilt["total"]["requests"] == 61
    assert rebuilt["total"]["latency_p50_ms"] == pytest.approx(live["total"]["latency_p50_ms"], rel=0.25)
    purge(store, NOW + timedelta(minutes=1))
    assert stats(store, "default", since=NOW - timedelta(hours=2))["total"]["requests"] == 0
