"""Datasets API: versioned items, file import and export, items from recorded traces."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from shipyard.auth import Principal, require
from shipyard.errors import InvalidRequest, NotFound, PayloadTooLarge
from shipyard.evals.datasets import FORMATS, export_items, parse_file
from shipyard.evals.service import service

router = APIRouter(prefix="/api/datasets", tags=["datasets"])


class DatasetIn(BaseModel):
    name: str
    description: str | None = None
    metadata: dict[str, Any] | None = None


class ItemsIn(BaseModel):
    items: list[Any]


class RemoveIn(BaseModel):
    ids: list[str] = Field(min_length=1)


class FromTracesIn(BaseModel):
    span_ids: list[str] = Field(default_factory=list)
    trace_ids: list[str] = Field(default_factory=list)
    expected_from_output: bool = True


def _datasets(request: Request) -> Any:
    return service(request.app.state.platform).datasets


@router.post("", status_code=201)
def create_dataset(body: DatasetIn, request: Request,
                   principal: Principal = Depends(require("datasets:write"))) -> dict[str, Any]:
    return _datasets(request).create(principal.project_id, body.name, body.description, body.metadata)


@router.get("")
def list_datasets(request: Request, principal: Principal = Depends(require("datasets:read"))) -> dict[str, Any]:
    return {"object": "list", "data": _datasets(request).list(principal.project_id)}


@router.get("/{ref}")
def get_dataset(ref: str, request: Request, principal: Principal = Depends(require("datasets:read"))) -> dict[str, Any]:
    return _datasets(request).get(principal.project_id, ref)


@router.delete("/{ref}", status_code=204)
def delete_dataset(ref: str, request: Request, principal: Principal = Depends(require("datasets:write"))) -> None:
    _datasets(request).delete(principal.project_id, ref)


@router.get("/{ref}/items")
def list_items(ref: str, request: Request, version: int | None = None, limit: int = Query(100, ge=1, le=10_000),
               offset: int = Query(0, ge=0),
               principal: Principal = Depends(require("datasets:read"))) -> dict[str, Any]:
    return _datasets(request).items(principal.project_id, ref, version, limit, offset)


@router.post("/{ref}/items", status_code=201)
def add_items(ref: str, body: ItemsIn, request: Request,
              principal: Principal = Depends(require("datasets:write"))) -> dict[str, Any]:
    return _datasets(request).add_items(principal.project_id, ref, body.items)


@router.patch("/{ref}/items/{item_id}")
def update_item(ref: str, item_id: str, body: dict[str, Any], request: Request,
                principal: Principal = Depends(require("datasets:write"))) -> dict[str, Any]:
    return _datasets(request).update_item(principal.project_id, ref, item_id, body)


@router.post("/{ref}/items/remove")
def remove_items(ref: str, body: RemoveIn, request: Request,
                 principal: Principal = Depends(require("datasets:write"))) -> dict[str, Any]:
    return _datasets(request).remove_items(principal.project_id, ref, body.ids)


@router.post("/{ref}/import", status_code=201)
async def import_file(ref: str, request: Request, format: str = "jsonl", create: bool = False,
                      principal: Principal = Depends(require("datasets:write"))) -> dict[str, Any]:
    """The raw file as the request body; `create=true` makes the dataset if it does not exist."""
    platform = request.app.state.platform
    if format not in FORMATS:
        raise InvalidRequest(f"format is one of {', '.join(FORMATS)}, not '{format}'", param="format")
    raw = await request.body()
    if len(raw) > platform.settings.max_body_bytes:
        raise PayloadTooLarge(f"the file is larger than {platform.settings.max_body_bytes} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the file is not UTF-8 text") from exc
    items = parse_file(text, format)
    datasets = _datasets(request)
    if create:
        try:
            datasets.get(principal.project_id, ref)
        except NotFound:
            datasets.create(principal.project_id, ref)
    return datasets.add_items(principal.project_id, ref, items)


@router.get("/{ref}/export")
def export_file(ref: str, request: Request, format: str = "jsonl", version: int | None = None,
                principal: Principal = Depends(require("datasets:read"))) -> Response:
    page = _datasets(request).items(principal.project_id, ref, version)
    body = export_items(page["data"], format)
    media = "text/csv" if format == "csv" else "application/jsonl"
    ext = "csv" if format == "csv" else "jsonl"
    return Response(body, media_type=media, headers={
        "content-disposition": f'attachment; filename="{ref}-v{page["version"]}.{ext}"'})


@router.post("/{ref}/from-traces", status_code=201)
def from_traces(ref: str, body: FromTracesIn, request: Request,
                principal: Principal = Depends(require("datasets:write"))) -> dict[str, Any]:
    return _datasets(request).from_traces(principal.project_id, ref, body.span_ids, body.trace_ids,
                                          body.expected_from_output)
