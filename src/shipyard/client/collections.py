"""`sdk.collections`: vector collections, documents, search, analytics and RAG answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.client.base import Shipyard, resource


def _clean(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


@resource("collections")
class Collections:
    def __init__(self, client: Shipyard) -> None:
        self.client = client

    def list(self) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/collections")["data"]

    def create(self, name: str, *, model: str | None = None, distance: str = "cosine", dimensions: int | None = None,
               description: str | None = None) -> dict[str, Any]:
        body = _clean(name=name, model=model, distance=distance, dimensions=dimensions, description=description)
        return self.client.request("POST", "/api/collections", json=body)

    def get(self, name: str) -> dict[str, Any]:
        return self.client.request("GET", f"/api/collections/{name}")

    def update(self, name: str, *, description: str | None = None, model: str | None = None) -> dict[str, Any]:
        return self.client.request("PATCH", f"/api/collections/{name}",
                                   json=_clean(description=description, model=model))

    def delete(self, name: str) -> dict[str, Any]:
        return self.client.request("DELETE", f"/api/collections/{name}")

    def upsert(self, name: str, documents: list[dict[str, Any]], *, dedupe: bool = True,
               sync_sources: dict[str, int] | None = None) -> dict[str, Any]:
        body = _clean(documents=documents, dedupe=dedupe, sync_sources=sync_sources)
        return self.client.request("POST", f"/api/collections/{name}/documents", json=body)

    def documents(self, name: str, *, limit: int = 50, offset: int = 0,
                  ids: list[str] | None = None) -> list[dict[str, Any]]:
        params = _clean(limit=limit, offset=offset, ids=",".join(ids) if ids else None)
        return self.client.request("GET", f"/api/collections/{name}/documents", params=params)["data"]

    def delete_documents(self, name: str, ids: list[str]) -> dict[str, Any]:
        return self.client.request("POST", f"/api/collections/{name}/documents/delete", json={"ids": ids})

    def upload(self, name: str, paths: list[str | Path], *, chunk_size: int = 1000,
               overlap: int = 150) -> dict[str, Any]:
        """Send files for the server to extract and chunk (the CLI's `ingest` chunks locally instead)."""
        files = [("files", (Path(p).name, Path(p).read_bytes())) for p in paths]
        return self.client.request("POST", f"/api/collections/{name}/files", files=files,
                                   data={"chunk_size": str(chunk_size), "overlap": str(overlap)})

    def ingest(self, name: str, path: str | Path, *, chunk_size: int = 1000, overlap: int = 150, batch: int = 64,
               on_progress: Callable[[int, int, str], None] | None = None,
               on_error: Callable[[str, Exception], None] | None = None) -> dict[str, Any]:
        """Chunk a file or folder here and upsert the chunks in batches. Idempotent: running it again (for
        instance after an interruption) skips chunks already stored and removes chunks a file no longer has.
        `on_progress(done, total, source)` follows the chunks; unreadable files go to `on_error` (or raise)."""
        from shipyard.errors import ShipyardError
        from shipyard.vectors.ingest import file_documents, walk

        root = Path(path).expanduser()
        base = root if root.is_dir() else root.parent
        files: list[tuple[str, list[dict[str, Any]]]] = []
        failed: list[str] = []
        for file in walk(root):
            source = file.relative_to(base).as_posix()
            try:
                files.append((source, file_documents(source, file.read_bytes(), size=chunk_size, overlap=overlap)))
            except (ShipyardError, OSError) as exc:
                if on_error is None:
                    raise
                on_error(source, exc)
                failed.append(source)
        total = sum(len(docs) for _, docs in files)
        totals = {"files": len(files), "failed": failed, "chunks": total, "upserted": 0, "unchanged": 0,
                  "duplicates": 0, "deleted": 0}
        done = 0
        pending: list[dict[str, Any]] = []
        sync: dict[str, int] = {}

        def flush() -> None:
            nonlocal done, pending, sync
            if not pending:  # the last document of a file always travels with its sync entry
                return
            result = self.upsert(name, pending, sync_sources=sync or None)
            for key in ("upserted", "unchanged", "duplicates", "deleted"):
                totals[key] += result[key]
            done += len(pending)
            if on_progress is not None:
                on_progress(done, total, pending[-1]["metadata"]["source"])
            pending, sync = [], {}

        for source, docs in files:
            for i, doc in enumerate(docs):
                pending.append(doc)
                if i == len(docs) - 1:
                    sync[source] = len(docs)
                if len(pending) >= batch:
                    flush()
        flush()
        return totals

    def search(self, name: str, query: str | None = None, *, vector: list[float] | None = None, top_k: int = 5,
               mode: str = "hybrid", filters: dict[str, Any] | None = None, min_score: float | None = None,
               mmr: bool = False, diversity: float = 0.5, exclude_ids: list[str] | None = None) -> list[dict[str, Any]]:
        body = _clean(query=query, vector=vector, top_k=top_k, mode=mode, filters=filters, min_score=min_score,
                      mmr=mmr, diversity=diversity, exclude_ids=exclude_ids)
        return self.client.request("POST", f"/api/collections/{name}/search", json=body)["data"]

    def reembed(self, name: str, *, model: str | None = None) -> dict[str, Any]:
        return self.client.request("POST", f"/api/collections/{name}/reembed", json=_clean(model=model))

    def recommend(self, name: str, liked_ids: list[str], *, exclude_ids: list[str] | None = None, top_k: int = 5,
                  filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        body = _clean(liked_ids=liked_ids, exclude_ids=exclude_ids, top_k=top_k, filters=filters)
        return self.client.request("POST", f"/api/collections/{name}/recommend", json=body)["data"]

    def clusters(self, name: str, *, method: str = "kmeans", k: int | None = None, **options: Any) -> dict[str, Any]:
        return self.client.request("POST", f"/api/collections/{name}/clusters",
                                   json=_clean(method=method, k=k, **options))

    def outliers(self, name: str, *, k: int = 5, limit: int = 20) -> dict[str, Any]:
        return self.client.request("POST", f"/api/collections/{name}/outliers", json={"k": k, "limit": limit})

    def novelty(self, name: str, texts: list[str], *, k: int = 5, threshold: float | None = None) -> dict[str, Any]:
        return self.client.request("POST", f"/api/collections/{name}/novelty",
                                   json=_clean(texts=texts, k=k, threshold=threshold))

    def answer(self, name: str, question: str, **options: Any) -> dict[str, Any]:
        """A retrieval-augmented answer from this collection (POST /api/rag/answer)."""
        return self.client.request("POST", "/api/rag/answer", json={"collection": name, "question": question,
                                                                    **options})
