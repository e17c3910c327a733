"""The chain registry as a platform service (same versions and labels as prompts), the built-in library,
and the run history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select

from shipyard.chains import spec as chain_spec
from shipyard.errors import InvalidRequest, NotFound
from shipyard.prompts.registry import Registry, Version
from shipyard.prompts.tables import ChainRun

if TYPE_CHECKING:
    from shipyard.platform import Platform

LIBRARY = Path(__file__).parent / "library"
META = ("name", "labels", "message", "commit_message")


def library() -> dict[str, dict[str, Any]]:
    """The ready chains shipped with Shipyard, by name."""
    out = {}
    for path in sorted(LIBRARY.glob("*.yaml")):
        out[path.stem] = yaml.safe_load(path.read_text())
    return out


def run_row(r: ChainRun) -> dict[str, Any]:
    return {"object": "chain.run", "id": r.id, "chain": r.chain, "version": r.version, "status": r.status,
            "inputs": r.inputs, "steps": r.steps, "output": r.output, "failed_step": r.failed_step,
            "error": None if r.status == "ok" else {"code": r.error_type, "message": r.error_message},
            "trace_id": r.trace_id, "key_id": r.key_id, "latency_ms": r.latency_ms,
            "created_at": r.created_at.isoformat() if r.created_at else None}


class ChainService:
    """`platform.service("chains", ChainService)`."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.registry = Registry(platform, "chain", chain_spec.normalize, reserved=("library", "runs", "run", "import"))

    def push(self, project_id: str, doc: dict[str, Any], *, author: str | None = None,
             name: str | None = None) -> tuple[Version, bool]:
        if not isinstance(doc, dict):
            raise InvalidRequest("a chain document must be an object")
        labels = doc.get("labels") or []
        labels = [labels] if isinstance(labels, str) else labels
        if not isinstance(labels, list):
            raise InvalidRequest("`labels` must be a list of label names", param="labels")
        spec = {k: v for k, v in doc.items() if k not in META}
        return self.registry.create(project_id, name or doc.get("name"), spec,
                                    message=doc.get("message") or doc.get("commit_message"), author=author,
                                    labels=labels)

    def install(self, project_id: str, template_name: str, *, name: str | None = None,
                author: str | None = None) -> tuple[Version, bool]:
        """Copy a library chain into the registry (under its own name or another), to run and adapt."""
        ready = library()
        if template_name not in ready:
            raise NotFound(f"no library chain '{template_name}' (available: {', '.join(ready)})",
                           param="template", code="chain_not_found")
        doc = {**ready[template_name], "message": f"installed from the library ({template_name})"}
        return self.push(project_id, doc, author=author, name=name or template_name)

    def runs(self, project_id: str, chain: str | None = None, status: str | None = None,
             limit: int = 50) -> list[dict[str, Any]]:
        query = (select(ChainRun).where(ChainRun.project_id == project_id)
                 .order_by(ChainRun.created_at.desc()).limit(limit))
        if chain:
            query = query.where(ChainRun.chain == chain)
        if status:
            query = query.where(ChainRun.status == status)
        with self.platform.store.session() as session:
            return [run_row(r) for r in session.scalars(query)]

    def get_run(self, project_id: str, run_id: str) -> dict[str, Any]:
        with self.platform.store.session() as session:
            row = session.get(ChainRun, run_id)
            if row is None or row.project_id != project_id:
                raise NotFound(f"chain run '{run_id}' does not exist", param="run_id", code="run_not_found")
            return run_row(row)


def chains_of(platform: Platform) -> ChainService:
    return platform.service("chains", ChainService)


def to_document(version: Version) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": version.name, **version.spec}
    labels = [label for label in version.labels if label != "latest"]
    if labels:
        doc["labels"] = labels
    if version.message:
        doc["message"] = version.message
    return doc
