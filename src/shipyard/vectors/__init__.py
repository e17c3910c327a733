"""Embeddings and vector search: collections, ingestion, search, analytics, retrieval-augmented answers.

In-process callers (chains, evaluations) use the platform service:

    vectors = get_service(platform)          # == platform.service("vectors", VectorService)
    hits = await vectors.search("docs", "how do I rotate keys?", top_k=5, mode="hybrid",
                                filters={"lang": "en"}, project_id=principal.project_id)
    hits[0].id, hits[0].text, hits[0].score, hits[0].metadata

`shipyard.vectors.rag.answer(platform, ...)` retrieves and answers with citations (a chain step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.platform import Platform
    from shipyard.vectors.service import VectorService


def get_service(platform: Platform) -> VectorService:
    from shipyard.vectors.service import VectorService

    return platform.service("vectors", VectorService)


__all__ = ["get_service"]
