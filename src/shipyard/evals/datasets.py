"""Datasets: versioned items, import and export (JSONL, CSV, OpenAI Evals samples), and items taken
from production traces.

Every change (a batch of items added, items removed or edited) makes one new version; experiments
record the version they ran on, so "the same dataset" always means the same items.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from shipyard.errors import Conflict, InvalidRequest, NotFound
from shipyard.evals.tables import EvalDataset, EvalItem
from shipyard.store import Store
from shipyard.store.tables import Span

FORMATS = ("jsonl", "csv", "openai")
MAX_ITEMS_PER_CALL = 50_000
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def dataset_dict(d: EvalDataset, items: int | None = None) -> dict[str, Any]:
    out = {"id": d.id, "object": "dataset", "name": d.name, "description": d.description, "version": d.version,
           "metadata": d.meta or {}, "created_at": d.created_at.isoformat(), "updated_at": d.updated_at.isoformat()}
    if items is not None:
        out["items"] = items
    return out


def item_dict(i: EvalItem) -> dict[str, Any]:
    return {"id": i.id, "input": i.input, "expected": i.expected, "context": i.context, "metadata": i.meta or {},
            "source_trace_id": i.source_trace_id, "source_span_id": i.source_span_id, "version": i.added_version}


def _check_messages(messages: list[Any], where: str) -> None:
    if not messages:
        raise InvalidRequest(f"{where}: input messages are empty")
    for n, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or "content" not in m:
            raise InvalidRequest(f"{where}: input message {n} needs a 'role' ({', '.join(ROLES)}) and 'content'")


def normalize_item(raw: Any, where: str = "item") -> dict[str, Any]:
    """One item in the stored shape. `ideal` (OpenAI Evals) and `reference` are accepted for `expected`."""
    if not isinstance(raw, dict):
        raise InvalidRequest(f"{where}: an item is a JSON object")
    if "input" not in raw or raw["input"] in (None, ""):
        raise InvalidRequest(f"{where}: 'input' is required (messages, variables or text)")
    value = raw["input"]
    if isinstance(value, list):
        _check_messages(value, where)
    elif not isinstance(value, (str, dict)):
        raise InvalidRequest(f"{where}: 'input' is a list of messages, an object of variables, or text")
    expected = next((raw[k] for k in ("expected", "ideal", "reference") if k in raw), None)
    meta = raw.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise InvalidRequest(f"{where}: 'metadata' is an object")
    known = {"input", "expected", "ideal", "reference", "context", "metadata", "id"}
    extra = {k: v for k, v in raw.items() if k not in known}
    if extra:  # keep what other tools put next to a sample rather than drop it silently
        meta = {**extra, **(meta or {})}
    return {"input": value, "expected": expected, "context": raw.get("context"), "metadata": meta or None}


class Datasets:
    """Dataset operations for one store; every call is scoped to a project."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- datasets -------------------------------------------------------------------------------------
    def create(self, project_id: str, name: str, description: str | None = None,
               metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise InvalidRequest("a dataset needs a name of 1 to 200 characters", param="name")
        with self.store.session() as s:
            if s.scalar(select(EvalDataset.id).where(EvalDataset.project_id == project_id,
                                                     EvalDataset.name == name)):
                raise Conflict(f"a dataset named '{name}' already exists", param="name")
            d = EvalDataset(id=new_id("ds"), project_id=project_id, name=name, description=description,
                            version=0, meta=metadata)
            s.add(d)
            s.flush()
            return dataset_dict(d, 0)

    def resolve(self, s: Session, project_id: str, ref: str, *, lock: bool = False) -> EvalDataset:
        """A dataset by id or by name."""
        query = select(EvalDataset).where(EvalDataset.project_id == project_id,
                                          or_(EvalDataset.id == ref, EvalDataset.name == ref))
        if lock:
            query = query.with_for_update()
        d = s.scalars(query).first()
        if d is None:
            raise NotFound(f"no dataset '{ref}'")
        return d

    def get(self, project_id: str, ref: str) -> dict[str, Any]:
        with self.store.session() as s:
            d = self.resolve(s, project_id, ref)
            return dataset_dict(d, self._count(s, d, d.version))

    def list(self, project_id: str) -> list[dict[str, Any]]:
        with self.store.session() as s:
            rows = s.scalars(select(EvalDataset).where(EvalDataset.project_id == project_id)
                             .order_by(EvalDataset.created_at.desc())).all()
            return [dataset_dict(d, self._count(s, d, d.version)) for d in rows]

    def delete(self, project_id: str, ref: str) -> None:
        with self.store.session() as s:
            d = self.resolve(s, project_id, ref)
            s.query(EvalItem).filter(EvalItem.dataset_id == d.id).delete()
            s.delete(d)

    # -- items ----------------------------------------------------------------------------------------
    @staticmethod
    def _visible(query: Any, version: int) -> Any:
        return query.where(EvalItem.added_version <= version,
                           or_(EvalItem.removed_version.is_(None), EvalItem.removed_version > version))

    def _count(self, s: Session, d: EvalDataset, version: int) -> int:
        q = select(func.count()).select_from(EvalItem).where(EvalItem.dataset_id == d.id)
        return int(s.scalar(self._visible(q, version)) or 0)

    def items_at(self, s: Session, d: EvalDataset, version: int | None = None) -> list[EvalItem]:
        v = d.version if version is None else version
        if v < 0 or v > d.version:
            raise InvalidRequest(f"dataset '{d.name}' has versions 0 to {d.version}, not {v}", param="version")
        q = select(EvalItem).where(EvalItem.dataset_id == d.id).order_by(EvalItem.position)
        return list(s.scalars(self._visible(q, v)))

    def items(self, project_id: str, ref: str, version: int | None = None, limit: int | None = None,
              offset: int = 0) -> dict[str, Any]:
        with self.store.session() as s:
            d = self.resolve(s, project_id, ref)
            rows = self.items_at(s, d, version)
            page = rows[offset: None if limit is None else offset + limit]
            return {"object": "list", "dataset_id": d.id, "version": d.version if version is None else version,
                    "total": len(rows), "data": [item_dict(i) for i in page]}

    def _bump(self, s: Session, d: EvalDataset) -> int:
        d.version += 1
        d.updated_at = datetime.now(UTC)
        return d.version

    def _insert(self, s: Session, d: EvalDataset, version: int, items: list[dict[str, Any]],
                sources: list[tuple[str | None, str | None]] | None = None) -> list[str]:
        start = int(s.scalar(select(func.max(EvalItem.position)).where(EvalItem.dataset_id == d.id)) or 0)
        ids = []
        for n, item in enumerate(items):
            trace_id, span_id = sources[n] if sources else (None, None)
            row = EvalItem(id=new_id("item"), dataset_id=d.id, project_id=d.project_id, position=start + n + 1,
                           input=item["input"], expected=item["expected"], context=item["context"],
                           meta=item["metadata"], source_trace_id=trace_id, source_span_id=span_id,
                           added_version=version)
            s.add(row)
            ids.append(row.id)
        return ids

    def add_items(self, project_id: str, ref: str, raw_items: list[Any]) -> dict[str, Any]:
        """Add items as one new version; all are checked before anything is stored."""
        if not isinstance(raw_items, list) or not raw_items:
            raise InvalidRequest("give a non-empty list of items", param="items")
        if len(raw_items) > MAX_ITEMS_PER_CALL:
            raise InvalidRequest(f"at most {MAX_ITEMS_PER_CALL} items per call", param="items")
        items = [normalize_item(r, f"item {n}") for n, r in enumerate(raw_items)]
        with self.store.session() as s:
            d = self.resolve(s, project_id, ref, lock=True)
            version = self._bump(s, d)
            ids = self._insert(s, d, version, items)
            return {"dataset_id": d.id, "version": version, "added": len(ids), "ids": ids}

    def remove_items(self, project_id: str, ref: str, item_ids: list[str]) -> dict[str, Any]:
        with self.store.session() as s:
            d = self.resolve(s, project_id, ref, lock=True)
            live = {i.id for i in self.items_at(s, d)}
            missing = [i for i in item_ids if i not in live]
            if missing:
                raise NotFound(f"dataset '{d.name}' has no current item {missing[0]}")
            version = self._bump(s, d)
            s.execute(update(EvalItem).where(EvalItem.id.in_(item_ids)).values(removed_version=version))
            return {"dataset_id": d.id, "version": version, "removed": len(item_ids)}

    def update_item(self, project_id: str, ref: str, item_id: str, raw: dict[str, Any]) -> dict[str, Any]:
        """Edit = retire the old item and add the new one in its place, in one new version."""
        item = normalize_item(raw)
        with self.store.session() as s:
            d = self.resolve(s, project_id, ref, lock=True)
            old = next((i for i in self.items_at(s, d) if i.id == item_id), None)
            if old is None:
                raise NotFound(f"dataset '{d.name}' has no current item {item_id}")
            version = self._bump(s, d)
            old.removed_version = version
            row = EvalItem(id=new_id("item"), dataset_id=d.id, project_id=d.project_id, position=old.position,
                           input=item["input"], expected=item["expected"], context=item["context"],
                           meta=item["metadata"], source_trace_id=old.source_trace_id,
                           source_span_id=old.source_span_id, added_version=version)
            s.add(row)
            s.flush()
            return {"dataset_id": d.id, "version": version, "item": item_dict(row)}

    def from_traces(self, project_id: str, ref: str, span_ids: list[str] | None = None,
                    trace_ids: list[str] | None = None, expected_from_output: bool = True) -> dict[str, Any]:
        """Items from recorded generations: their messages as input, their answer as the reference."""
        span_ids, trace_ids = list(span_ids or []), list(trace_ids or [])
        if not span_ids and not trace_ids:
            raise InvalidRequest("give span_ids or trace_ids", param="span_ids")
        with self.store.session() as s:
            d = self.resolve(s, project_id, ref, lock=True)
            conds = []
            if span_ids:
                conds.append(Span.id.in_(span_ids))
            if trace_ids:
                conds.append(Span.trace_id.in_(trace_ids))
            spans = list(s.scalars(select(Span).where(Span.project_id == project_id, Span.kind == "generation",
                                                      or_(*conds)).order_by(Span.start_time)))
            found_spans, found_traces = {x.id for x in spans}, {x.trace_id for x in spans}
            missing = [i for i in span_ids if i not in found_spans] + [t for t in trace_ids if t not in found_traces]
            if missing:
                raise NotFound(f"no recorded generation for '{missing[0]}' in this project")
            items, sources = [], []
            for sp in spans:
                if not sp.input:
                    raise InvalidRequest(f"span {sp.id} was recorded without content (trace_content is off)")
                meta = {"source_model": sp.model, "source_status": sp.status}
                expected = (sp.output.get("content") if isinstance(sp.output, dict) else sp.output) \
                    if expected_from_output and sp.status == "ok" else None
                items.append(normalize_item({"input": sp.input, "expected": expected, "metadata": meta},
                                            f"span {sp.id}"))
                sources.append((sp.trace_id, sp.id))
            version = self._bump(s, d)
            ids = self._insert(s, d, version, items, sources)
            return {"dataset_id": d.id, "version": version, "added": len(ids), "ids": ids}


# -- files ----------------------------------------------------------------------------------------------
def _maybe_json(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def parse_file(content: bytes | str, fmt: str) -> list[dict[str, Any]]:
    """Items from a JSONL file (ours, or OpenAI Evals samples: detected by `ideal`) or a CSV file.

    CSV: an `input` column (text, or JSON for messages/variables), optional `expected`, `context` and
    `metadata` (JSON) columns; without an `input` column, the other columns are the input variables."""
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    if fmt in ("jsonl", "openai"):
        items = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError as exc:
                raise InvalidRequest(f"line {n}: not JSON ({exc})") from exc
            items.append(normalize_item(raw, f"line {n}"))
        if not items:
            raise InvalidRequest("the file has no items")
        return items
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise InvalidRequest("the CSV file has no header row")
        fields = [f.strip() for f in reader.fieldnames]
        items = []
        for n, row in enumerate(reader, 2):
            row = {k.strip(): (v or "") for k, v in row.items() if k is not None}
            raw: dict[str, Any] = {}
            if "input" in fields:
                raw["input"] = _maybe_json(row["input"])
            else:
                raw["input"] = {k: v for k, v in row.items() if k not in ("expected", "context", "metadata")}
            for key in ("expected", "ideal", "context"):
                if row.get(key):
                    raw[key] = _maybe_json(row[key])
            if row.get("metadata"):
                meta = _maybe_json(row["metadata"])
                if not isinstance(meta, dict):
                    raise InvalidRequest(f"line {n}: 'metadata' is a JSON object")
                raw["metadata"] = meta
            items.append(normalize_item(raw, f"line {n}"))
        if not items:
            raise InvalidRequest("the file has no items")
        return items
    raise InvalidRequest(f"format is one of {', '.join(FORMATS)}, not '{fmt}'", param="format")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def export_items(items: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps({k: i[k] for k in ("input", "expected", "context", "metadata")},
                                  ensure_ascii=False) + "\n" for i in items)
    if fmt == "openai":
        lines = []
        for i in items:
            value = i["input"]
            if isinstance(value, str):
                value = [{"role": "user", "content": value}]
            elif not isinstance(value, list):
                raise InvalidRequest(f"item {i['id']} has variables; the OpenAI Evals format needs messages")
            lines.append(json.dumps({"input": value, "ideal": i["expected"]}, ensure_ascii=False) + "\n")
        return "".join(lines)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["input", "expected", "context", "metadata"])
        for i in items:
            writer.writerow([_cell(i["input"]), _cell(i["expected"]), _cell(i["context"]),
                             _cell(i["metadata"] or None)])
        return out.getvalue()
    raise InvalidRequest(f"format is one of {', '.join(FORMATS)}, not '{fmt}'", param="format")
