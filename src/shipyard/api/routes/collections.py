"""/api/collections: vector collections, their documents, search and analytics. Thin: parse, call
the `vectors` service, shape the answer."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from shipyard.auth import Principal, require
from shipyard.config import DEFAULT_EMBEDDING_MODEL
from shipyard.errors import InvalidRequest
from shipyard.vectors import get_service
from shipyard.vectors.service import VectorService

router = APIRouter(prefix="/api/collections", tags=["collections"])
READ, WRITE = require("collections:read"), require("collections:write")
MAX_UPLOAD = 50 * 1024 * 1024


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateCollection(Body):
    name: str
    model: str | None = DEFAULT_EMBEDDING_MODEL
    distance: Literal["cosine", "l2", "ip"] = "cosine"
    dimensions: int | None = None
    description: str | None = None


class UpdateCollection(Body):
    description: str | None = None
    model: str | None = None


class Upsert(Body):
    documents: list[dict[str, Any]]
    dedupe: bool = True
    sync_sources: dict[str, int] | None = None


class DeleteDocuments(Body):
    ids: list[str]


class Search(Body):
    query: str | None = None
    vector: list[float] | None = None
    top_k: int = Field(5, ge=1, le=1000)
    mode: Literal["vector", "keyword", "hybrid"] = "hybrid"
    filters: dict[str, Any] | None = None
    min_score: float | None = None
    mmr: bool = False
    diversity: float = Field(0.5, ge=0.0, le=1.0)
    exclude_ids: list[str] | None = None


class Reembed(Body):
    model: str | None = None


class Recommend(Body):
    liked_ids: list[str]
    exclude_ids: list[str] | None = None
    top_k: int = Field(5, ge=1, le=1000)
    filters: dict[str, Any] | None = None


class Cluster(Body):
    method: Literal["kmeans", "hdbscan"] = "kmeans"
    k: int | None = Field(None, ge=2, le=100)
    min_cluster_size: int = Field(5, ge=2)
    terms: int = Field(5, ge=1, le=20)
    sample: int = Field(5000, ge=10, le=100_000)


class Outliers(Body):
    k: int = Field(5, ge=1, le=100)
    limit: int = Field(20, ge=1, le=1000)


class Novelty(Body):
    texts: list[str]
    k: int = Field(5, ge=1, le=100)
    threshold: float | None = None


def service(request: Request) -> VectorService:
    return get_service(request.app.state.platform)


def _hits(hits: list[Any]) -> dict[str, Any]:
    return {"object": "list", "data": [h.as_dict() for h in hits]}


@router.get("")
async def list_collections(request: Request, principal: Principal = Depends(READ)) -> dict[str, Any]:
    return {"object": "list", "data": service(request).list(principal.project_id)}


@router.post("")
async def create_collection(body: CreateCollection, request: Request,
                            principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    return await service(request).create(body.name, model=body.model, distance=body.distance,
                                         dimensions=body.dimensions, description=body.description,
                                         project_id=principal.project_id)


@router.get("/{name}")
async def get_collection(name: str, request: Request, principal: Principal = Depends(READ)) -> dict[str, Any]:
    return service(request).get(name, principal.project_id)


@router.patch("/{name}")
async def update_collection(name: str, body: UpdateCollection, request: Request,
                            principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    return await service(request).update(name, description=body.description, model=body.model,
                                         project_id=principal.project_id)


@router.delete("/{name}")
async def delete_collection(name: str, request: Request, principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    return await service(request).delete(name, principal.project_id)


@router.post("/{name}/documents")
async def upsert_documents(name: str, body: Upsert, request: Request,
                           principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    return await service(request).upsert(name, body.documents, dedupe=body.dedupe, sync_sources=body.sync_sources,
                                         project_id=principal.project_id)


@router.get("/{name}/documents")
async def list_documents(name: str, request: Request, limit: int = 50, offset: int = 0, ids: str | None = None,
                         principal: Principal = Depends(READ)) -> dict[str, Any]:
    if not 1 <= limit <= 1000 or offset < 0:
        raise InvalidRequest("limit must be 1-1000 and offset at least 0", param="limit")
    data = service(request).documents(name, project_id=principal.project_id, limit=limit, offset=offset,
                                      ids=ids.split(",") if ids else None)
    return {"object": "list", "data": data}


@router.post("/{name}/documents/delete")
async def delete_documents(name: str, body: DeleteDocuments, request: Request,
                           principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    return await service(request).delete_documents(name, body.ids, project_id=principal.project_id)


@router.post("/{name}/files")
async def ingest_files(name: str, request: Request, files: list[UploadFile] = File(...),
                       chunk_size: int = Form(1000), overlap: int = Form(150),
                       principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    loaded = []
    for upload in files:
        data = await upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise InvalidRequest(f"{upload.filename}: larger than {MAX_UPLOAD // 2**20} MiB", param="files")
        loaded.append((upload.filename or "upload.txt", data))
    return await service(request).ingest_files(name, loaded, chunk_size=chunk_size, overlap=overlap,
                                               project_id=principal.project_id)


@router.post("/{name}/search")
async def search(name: str, body: Search, request: Request, principal: Principal = Depends(READ)) -> dict[str, Any]:
    hits = await service(request).search(name, body.query, vector=body.vector, top_k=body.top_k, mode=body.mode,
                                         filters=body.filters, min_score=body.min_score, mmr=body.mmr,
                                         diversity=body.diversity, exclude_ids=body.exclude_ids,
                                         project_id=principal.project_id)
    return _hits(hits)


@router.post("/{name}/reembed")
async def reembed(name: str, body: Reembed, request: Request, principal: Principal = Depends(WRITE)) -> dict[str, Any]:
    return await service(request).reembed(name, model=body.model, project_id=principal.project_id)


@router.post("/{name}/recommend")
async def recommend(name: str, body: Recommend, request: Request,
                    principal: Principal = Depends(READ)) -> dict[str, Any]:
    hits = await service(request).recommend(name, body.liked_ids, exclude_ids=body.exclude_ids, top_k=body.top_k,
                                            filters=body.filters, project_id=principal.project_id)
    return _hits(hits)


@router.post("/{name}/clusters")
async def clusters(name: str, body: Cluster, request: Request, principal: Principal = Depends(READ)) -> dict[str, Any]:
    from shipyard.vectors import analytics

    return await analytics.cluster(service(request), name, method=body.method, k=body.k,
                                   min_cluster_size=body.min_cluster_size, terms=body.terms, sample=body.sample,
                                   project_id=principal.project_id)


@router.post("/{name}/outliers")
async def outliers(name: str, body: Outliers, request: Request, principal: Principal = Depends(READ)) -> dict[str, Any]:
    from shipyard.vectors import analytics

    return await analytics.outliers(service(request), name, k=body.k, limit=body.limit,
                                    project_id=principal.project_id)


@router.post("/{name}/novelty")
async def novelty(name: str, body: Novelty, request: Request, principal: Principal = Depends(READ)) -> dict[str, Any]:
    from shipyard.vectors import analytics

    return await analytics.novelty(service(request), name, body.texts, k=body.k, threshold=body.threshold,
                                   project_id=principal.project_id)
