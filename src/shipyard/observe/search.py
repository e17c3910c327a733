"""Finding traces and spans: filters, full-text search, keyset pagination, and a trace's span tree.

Every list is newest first and paged by a cursor over (start_time, id), so page N costs the same as
page 1 on a table of millions (no OFFSET). Filters lead with the project (the scope of every query)
and use the indexes from migration 0004_observe.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, text
from sqlalchemy.orm import Session

from shipyard.errors import InvalidRequest, NotFound
from shipyard.observe.scores import score_json
from shipyard.observe.tables import Score
from shipyard.store import Store
from shipyard.store.tables import Span, Trace

_WORD = re.compile(r"\w+", re.UNICODE)


def utc(value: datetime | None) -> datetime | None:
    """Times are stored in UTC; a naive time from a user is taken as UTC too."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    return None if value is None else utc(value).isoformat()  # type: ignore[union-attr]


@dataclass
class Filters:
    """What a person can search by; every field is optional."""

    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    status: str | None = None  # ok | error
    kind: str | None = None  # spans only
    name: str | None = None
    key_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    q: str | None = None  # words that must all appear in the input or output

    def __post_init__(self) -> None:
        self.since, self.until = utc(self.since), utc(self.until)
        if self.status is not None and self.status not in ("ok", "error"):
            raise InvalidRequest("status must be 'ok' or 'error'", param="status")
        if self.q is not None and not _WORD.search(self.q):
            self.q = None


def parse_metadata_filters(values: list[str] | None) -> dict[str, str]:
    """`key=value` pairs from the query string (`?metadata=env=prod&metadata=team=search`)."""
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not re.fullmatch(r"[\w.\-]{1,64}", key.strip()):
            raise InvalidRequest(f"metadata filter '{item}' must look like key=value", param="metadata")
        out[key.strip()] = value
    return out


def encode_cursor(start: datetime, id: str) -> str:
    return base64.urlsafe_b64encode(f"{iso(start)}|{id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, id = raw.split("|", 1)
        return utc(datetime.fromisoformat(when)), id  # type: ignore[return-value]
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("cursor is not one this server handed out", param="cursor") from None


DENSE = 20_000  # above this many matching spans, probe spans in time order instead of collecting matches


def _fts_query(q: str) -> str:
    return " ".join('"' + w.replace('"', '""') + '"' for w in _WORD.findall(q)[:16])


def _dense(store: Store, q: str) -> bool:
    """Whether the words match so many spans that walking the time index and probing each span
    beats collecting every match first (SQLite; on PostgreSQL see `_collect`)."""
    if not store.is_sqlite:
        return False
    with store.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM (SELECT rowid FROM spans_fts WHERE spans_fts MATCH :q LIMIT :n)"),
                         {"q": _fts_query(q), "n": DENSE + 1}).scalar_one()
    return n > DENSE


def _text_match(store: Store, q: str, *, dense: bool = False) -> ColumnElement[bool]:
    """Spans whose input or output holds every word of `q` (FTS5 on SQLite, tsvector on PostgreSQL)."""
    if store.is_sqlite:
        if dense:
            return text("EXISTS (SELECT 1 FROM spans_fts WHERE spans_fts MATCH :fts_q "
                        "AND spans_fts.rowid = spans.rowid)").bindparams(fts_q=_fts_query(q))
        return text("spans.rowid IN (SELECT rowid FROM spans_fts WHERE spans_fts MATCH :fts_q)").bindparams(
            fts_q=_fts_query(q))
    words = _WORD.findall(q)[:16]
    # spans.search: the stored tsvector of input and output (migration 0004_observe), GIN-indexed
    return text("spans.search @@ plainto_tsquery('simple'::regconfig, :fts_q)").bindparams(fts_q=" ".join(words))


def _collect(store: Store, conds: list[ColumnElement[bool]], column: Any) -> list[str] | None:
    """PostgreSQL: the matching spans' ids (or trace ids) when there are at most DENSE of them, else None.

    Its planner cannot tell a rare word from an unknown one and would walk the time index probing
    every span for a word that occurs once; collecting through the GIN index first avoids that, and
    when the words are common the walk it prefers is the fast plan anyway."""
    if store.is_sqlite:
        return None
    with store.session() as session:
        hits = list(session.scalars(select(column).where(*conds).limit(DENSE + 1)))
    return None if len(hits) > DENSE else sorted(set(hits))


def _span_conditions(store: Store, f: Filters, project_id: str, *, for_traces: bool,
                     dense: bool = False) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [Span.project_id == project_id]
    if not for_traces:
        if f.since is not None:
            conds.append(Span.start_time >= f.since)
        if f.until is not None:
            conds.append(Span.start_time < f.until)
        if f.status:
            conds.append(Span.status == f.status)
        if f.kind:
            conds.append(Span.kind == f.kind)
        if f.name:
            conds.append(Span.name == f.name)
        if f.session_id:
            conds.append(Span.session_id == f.session_id)
        if f.user_id:
            conds.append(Span.user_id == f.user_id)
        for key, value in f.metadata.items():
            conds.append(Span.meta[key].as_string() == value)
    if f.model:
        conds.append(Span.model == f.model)
    if f.key_id:
        conds.append(Span.key_id == f.key_id)
    if f.q:
        conds.append(_text_match(store, f.q, dense=dense))
    return conds


def _page(query: Select[Any], column_time: Any, column_id: Any, cursor: str | None, limit: int) -> Select[Any]:
    if cursor:
        when, last = decode_cursor(cursor)
        query = query.where(column_time <= when, or_(column_time < when, column_id < last))
    return query.order_by(column_time.desc(), column_id.desc()).limit(limit + 1)


def span_json(s: Span, *, content: bool = True) -> dict[str, Any]:
    out = {
        "id": s.id, "object": "span", "trace_id": s.trace_id, "parent_id": s.parent_id, "kind": s.kind,
        "name": s.name, "start_time": iso(s.start_time), "end_time": iso(s.end_time),
        "latency_ms": None if s.latency_ms is None else round(s.latency_ms, 3),
        "ttft_ms": None if s.ttft_ms is None else round(s.ttft_ms, 3), "status": s.status,
        "status_code": s.status_code, "error_type": s.error_type, "error_message": s.error_message,
        "model": s.model, "provider": s.provider, "stream": s.stream, "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens, "cached_tokens": s.cached_tokens, "cost": s.cost,
        "key_id": s.key_id, "session_id": s.session_id, "user_id": s.user_id, "metadata": s.meta,
    }
    if content:
        out["input"], out["output"] = s.input, s.output
    return out


def trace_json(t: Trace) -> dict[str, Any]:
    return {
        "id": t.id, "object": "trace", "name": t.name, "start_time": iso(t.start_time), "end_time": iso(t.end_time),
        "latency_ms": None if t.latency_ms is None else round(t.latency_ms, 3), "status": t.status,
        "input": t.input, "output": t.output, "session_id": t.session_id, "user_id": t.user_id, "metadata": t.meta,
    }


def list_spans(store: Store, project_id: str, f: Filters, *, cursor: str | None = None, limit: int = 50,
               content: bool = False) -> dict[str, Any]:
    dense = bool(f.q) and _dense(store, f.q)  # type: ignore[arg-type]
    conds = _span_conditions(store, f, project_id, for_traces=False, dense=dense)
    ids = _collect(store, conds, Span.id) if f.q else None
    if ids is not None:
        conds = [Span.project_id == project_id, Span.id.in_(ids)]
    query = _page(select(Span).where(*conds),
                  Span.start_time, Span.id, cursor, limit)
    with store.session() as session:
        rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"object": "list", "data": [span_json(r, content=content) for r in rows],
            "next_cursor": encode_cursor(rows[-1].start_time, rows[-1].id) if more else None}


def list_traces(store: Store, project_id: str, f: Filters, *, cursor: str | None = None,
                limit: int = 50) -> dict[str, Any]:
    conds: list[ColumnElement[bool]] = [Trace.project_id == project_id]
    if f.since is not None:
        conds.append(Trace.start_time >= f.since)
    if f.until is not None:
        conds.append(Trace.start_time < f.until)
    if f.status:
        conds.append(Trace.status == f.status)
    if f.name:
        conds.append(Trace.name == f.name)
    if f.session_id:
        conds.append(Trace.session_id == f.session_id)
    if f.user_id:
        conds.append(Trace.user_id == f.user_id)
    for key, value in f.metadata.items():
        conds.append(Trace.meta[key].as_string() == value)
    dense = bool(f.q) and _dense(store, f.q)  # type: ignore[arg-type]
    trace_ids = _collect(store, _span_conditions(store, f, project_id, for_traces=True), Span.trace_id) \
        if f.q else None
    if trace_ids is not None:
        conds.append(Trace.id.in_(trace_ids))
    elif f.q and not dense and store.is_sqlite:
        # Text first: the words pick few spans, so their traces are collected once and the page is
        # read in time order among them.
        conds.append(Trace.id.in_(select(Span.trace_id).where(*_span_conditions(store, f, project_id,
                                                                                  for_traces=True))))
    elif f.model or f.key_id or f.q:
        # A trace matches when one of its spans does; probed per trace in time order, so a page
        # stops as soon as it is full.
        conds.append(exists().where(Span.trace_id == Trace.id,
                                    *_span_conditions(store, f, project_id, for_traces=True, dense=dense)))
    query = _page(select(Trace).where(*conds), Trace.start_time, Trace.id, cursor, limit)
    with store.session() as session:
        rows = list(session.scalars(query))
        more = len(rows) > limit
        rows = rows[:limit]
        summary = _summaries(session, project_id, [r.id for r in rows])
    data = []
    for r in rows:
        item = trace_json(r)
        item.update(summary.get(r.id, {"spans": 0, "models": [], "prompt_tokens": 0, "completion_tokens": 0,
                                       "cost": None, "scores": 0}))
        data.append(item)
    return {"object": "list", "data": data,
            "next_cursor": encode_cursor(rows[-1].start_time, rows[-1].id) if more else None}


def _summaries(session: Session, project_id: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per trace of a page: span count, models used, tokens, cost, scores (one grouped query each)."""
    if not ids:
        return {}
    out: dict[str, dict[str, Any]] = {
        i: {"spans": 0, "models": [], "prompt_tokens": 0, "completion_tokens": 0, "cost": None, "scores": 0}
        for i in ids}
    q = (select(Span.trace_id, Span.model, func.count(), func.sum(Span.prompt_tokens),
                func.sum(Span.completion_tokens), func.sum(Span.cost))
         .where(Span.trace_id.in_(ids), Span.project_id == project_id).group_by(Span.trace_id, Span.model))
    for trace_id, model, n, p, c, cost in session.execute(q):
        item = out[trace_id]
        item["spans"] += n
        item["prompt_tokens"] += p or 0
        item["completion_tokens"] += c or 0
        if cost is not None:
            item["cost"] = (item["cost"] or 0.0) + cost
        if model:
            item["models"].append(model)
    for trace_id, n in session.execute(select(Score.trace_id, func.count()).where(
            Score.trace_id.in_(ids), Score.project_id == project_id).group_by(Score.trace_id)):
        out[trace_id]["scores"] = n
    return out


def get_trace(store: Store, project_id: str, trace_id: str) -> dict[str, Any]:
    """A trace with its spans as a tree (children by start time) and its scores."""
    with store.session() as session:
        trace = session.scalar(select(Trace).where(Trace.id == trace_id, Trace.project_id == project_id))
        spans = list(session.scalars(select(Span).where(Span.trace_id == trace_id, Span.project_id == project_id)
                                     .order_by(Span.start_time, Span.id)))
        scores = list(session.scalars(select(Score).where(Score.trace_id == trace_id,
                                                          Score.project_id == project_id)
                                      .order_by(Score.created_at)))
    if trace is None and not spans:
        raise NotFound(f"trace '{trace_id}' was not found", param="trace_id")
    nodes = {s.id: {**span_json(s), "children": []} for s in spans}
    roots = []
    for s in spans:
        parent = nodes.get(s.parent_id) if s.parent_id else None
        (parent["children"] if parent is not None else roots).append(nodes[s.id])
    if trace is not None:
        head = trace_json(trace)
    else:  # the root belongs to the caller (W3C traceparent) or has not ended yet
        first = spans[0]
        ends = [s.end_time for s in spans if s.end_time is not None]
        head = {"id": trace_id, "object": "trace", "name": first.name, "start_time": iso(first.start_time),
                "end_time": iso(max(ends)) if ends else None, "latency_ms": None,
                "status": "error" if any(s.status == "error" for s in spans) else "ok", "input": first.input,
                "output": first.output, "session_id": first.session_id, "user_id": first.user_id, "metadata": None}
    head.update(
        spans=roots, span_count=len(spans), scores=[score_json(s) for s in scores],
        prompt_tokens=sum(s.prompt_tokens or 0 for s in spans),
        completion_tokens=sum(s.completion_tokens or 0 for s in spans),
        cost=sum(s.cost for s in spans if s.cost is not None) if any(s.cost is not None for s in spans) else None,
    )
    return head


def trace_exists(store: Store, project_id: str, trace_id: str) -> bool:
    with store.session() as session:
        if session.scalar(select(Trace.id).where(Trace.id == trace_id, Trace.project_id == project_id)):
            return True
        return session.scalar(select(Span.id).where(Span.trace_id == trace_id, Span.project_id == project_id)
                              .limit(1)) is not None

