"""The HTTP routes every registry kind shares (prompts and chains): versions, labels, diff, export, import.

`add_registry_routes(router, "prompts", push, registry_of)` adds them to a capability's router with that
area's actions (`prompts:read` / `prompts:write`); the capability adds what is its own (render, run).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from shipyard.auth import Principal, require
from shipyard.errors import InvalidRequest
from shipyard.prompts.registry import Registry, Version, dump_yaml

Push = Callable[[Any, str, dict[str, Any], str | None], tuple[Version, bool]]


class LabelMove(BaseModel):
    version: int | str = Field(description="the version number (or another label) the label should point at")


class ImportBody(BaseModel):
    documents: list[dict[str, Any]] = Field(description="file-shaped documents: name, spec fields, labels, message")


def _described(version: Version, created: bool | None = None) -> dict[str, Any]:
    out = version.describe()
    if created is not None:
        out["created"] = created
    return out


def add_registry_routes(router: APIRouter, area: str, registry_of: Callable[[Any], Registry], push: Push,
                        to_document: Callable[[Version], dict[str, Any]]) -> None:
    read, write = require(f"{area}:read"), require(f"{area}:write")

    def registry(request: Request) -> Registry:
        return registry_of(request.app.state.platform)

    @router.get("")
    def list_names(request: Request, search: str | None = None,
                   principal: Principal = Depends(read)) -> dict[str, Any]:
        return {"object": "list", "data": registry(request).list(principal.project_id, search)}

    @router.post("", status_code=201)
    def create(request: Request, response: Response, doc: dict[str, Any] = Body(...),
               principal: Principal = Depends(write)) -> dict[str, Any]:
        version, created = push(request.app.state.platform, principal.project_id, doc, principal.key_id)
        if not created:
            response.status_code = 200
        return _described(version, created)

    @router.post("/import")
    def import_documents(request: Request, body: ImportBody, principal: Principal = Depends(write)) -> dict[str, Any]:
        """Several documents at once (a folder from git): all are checked before any is stored."""
        reg = registry(request)
        names = set()
        for i, doc in enumerate(body.documents):
            spec = {k: v for k, v in doc.items() if k not in ("name", "labels", "message", "commit_message")}
            try:
                reg.normalize(spec)
            except InvalidRequest as exc:
                raise InvalidRequest(f"document {i + 1} ({doc.get('name', '?')}): {exc.message}", param=exc.param,
                                     code=exc.code) from exc
            if doc.get("name") in names:
                raise InvalidRequest(f"document {i + 1}: '{doc.get('name')}' appears twice", param="name")
            names.add(doc.get("name"))
        out = [_described(*push(request.app.state.platform, principal.project_id, doc, principal.key_id))
               for doc in body.documents]
        return {"object": "list", "data": out}

    @router.get("/{name}")
    def get(request: Request, name: str, version: str | None = None, label: str | None = None,
            principal: Principal = Depends(read)) -> dict[str, Any]:
        return registry(request).get(principal.project_id, name, version or label).describe()

    @router.delete("/{name}")
    def delete(request: Request, name: str, principal: Principal = Depends(write)) -> dict[str, Any]:
        count = registry(request).delete(principal.project_id, name)
        return {"object": f"{registry(request).kind}.deleted", "name": name, "versions": count, "deleted": True}

    @router.get("/{name}/versions")
    def versions(request: Request, name: str, principal: Principal = Depends(read)) -> dict[str, Any]:
        found = registry(request).versions(principal.project_id, name)
        return {"object": "list", "data": [v.describe() for v in found]}

    @router.get("/{name}/diff")
    def diff(request: Request, name: str, a: str = Query(..., alias="from"), b: str = Query("latest", alias="to"),
             principal: Principal = Depends(read)) -> dict[str, Any]:
        return registry(request).diff(principal.project_id, name, a, b)

    @router.get("/{name}/export")
    def export(request: Request, name: str, version: str | None = None,
               principal: Principal = Depends(read)) -> Response:
        found = registry(request).get(principal.project_id, name, version)
        return Response(dump_yaml(to_document(found)), media_type="application/yaml")

    @router.put("/{name}/labels/{label}")
    def move_label(request: Request, name: str, label: str, body: LabelMove,
                   principal: Principal = Depends(write)) -> dict[str, Any]:
        return registry(request).set_label(principal.project_id, name, label, body.version, principal.key_id).describe()

    @router.delete("/{name}/labels/{label}")
    def remove_label(request: Request, name: str, label: str, principal: Principal = Depends(write)) -> dict[str, Any]:
        registry(request).remove_label(principal.project_id, name, label)
        return {"object": "label.deleted", "name": name, "label": label, "deleted": True}
