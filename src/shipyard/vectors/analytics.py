"""Analytics from a collection's stored vectors: clusters named by their distinctive terms with a 2-D
map, outlier scores, and a novelty check of new texts against everything seen.

All of it is exact numpy/scikit-learn work over (a sample of) the collection, run in a worker thread
so the event loop keeps serving; large collections are sampled evenly (`sample`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from shipyard.auth import DEFAULT_PROJECT
from shipyard.errors import InvalidRequest
from shipyard.vectors.tables import VectorCollection, VectorDocument

if TYPE_CHECKING:
    from shipyard.vectors.service import VectorService

MAX_POINTS = 2000  # points returned for the 2-D map


def _load(svc: VectorService, col: VectorCollection, sample: int) -> tuple[list[str], list[str], np.ndarray]:
    with svc.store.session() as session:
        pks = list(session.scalars(select(VectorDocument.pk).where(VectorDocument.collection_id == col.id)
                                   .order_by(VectorDocument.pk)))
        if len(pks) > sample:
            pks = [pks[i] for i in np.linspace(0, len(pks) - 1, sample).astype(int)]
        ids, texts, vectors = [], [], []
        for i in range(0, len(pks), 1000):
            for doc_id, text, vec in session.execute(
                    select(VectorDocument.doc_id, VectorDocument.text, VectorDocument.embedding)
                    .where(VectorDocument.pk.in_(pks[i:i + 1000])).order_by(VectorDocument.pk)):
                ids.append(doc_id)
                texts.append(text)
                vectors.append(vec)
    matrix = np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, col.dimensions), np.float32)
    return ids, texts, matrix


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def _distances(queries: np.ndarray, base: np.ndarray, metric: str) -> np.ndarray:
    """Pairwise distances (cosine: 1 - similarity; ip: negative dot product; l2: euclidean)."""
    if metric == "cosine":
        return 1.0 - _unit(queries) @ _unit(base).T
    if metric == "ip":
        return -(queries @ base.T)
    sq = (queries**2).sum(1)[:, None] + (base**2).sum(1)[None, :] - 2 * queries @ base.T
    return np.sqrt(np.maximum(sq, 0.0))


def knn_scores(queries: np.ndarray, base: np.ndarray, metric: str, k: int, exclude_self: bool = False) -> np.ndarray:
    """Mean distance to the k nearest base vectors, computed in blocks to bound memory."""
    out = np.empty(len(queries), dtype=np.float64)
    kk = min(k + (1 if exclude_self else 0), len(base))
    for start in range(0, len(queries), 512):
        d = _distances(queries[start:start + 512], base, metric)
        if exclude_self:
            rows = np.arange(d.shape[0])
            d[rows, rows + start] = np.inf
        part = np.partition(d, kk - 1, axis=1)[:, :kk]
        if exclude_self:
            part = np.sort(part, axis=1)[:, : kk - 1]
        out[start:start + 512] = part.mean(axis=1)
    return out


def ctfidf_terms(texts: list[str], labels: np.ndarray, top: int) -> dict[int, list[str]]:
    """Class-based TF-IDF (as in BERTopic): a term weighs by its frequency in the cluster against its
    frequency in all clusters, so each cluster is named by what sets it apart."""
    from sklearn.feature_extraction.text import CountVectorizer

    classes = sorted(set(labels.tolist()))
    joined = [" ".join(t for t, lab in zip(texts, labels, strict=True) if lab == c) for c in classes]
    try:
        vec = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_][\w-]+\b", max_features=50_000)
        counts = vec.fit_transform(joined).toarray().astype(np.float64)
    except ValueError:  # nothing but stop words
        return {c: [] for c in classes}
    words = np.asarray(vec.get_feature_names_out())
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    avg = counts.sum() / max(len(classes), 1)
    idf = np.log(1.0 + avg / np.maximum(counts.sum(axis=0), 1.0))
    weights = tf * idf
    out: dict[int, list[str]] = {}
    for i, c in enumerate(classes):
        out[c] = [str(words[j]) for j in np.argsort(-weights[i])[:top] if weights[i, j] > 0]
    return out


def _cluster(ids: list[str], texts: list[str], matrix: np.ndarray, method: str, k: int | None,
             min_cluster_size: int, top_terms: int) -> dict[str, Any]:
    from sklearn.cluster import HDBSCAN, KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    x = _unit(matrix)
    n = len(x)
    silhouette = None
    if method == "hdbscan":
        labels = HDBSCAN(min_cluster_size=min(min_cluster_size, n), copy=True).fit_predict(x)
        if (labels >= 0).sum() and len(set(labels[labels >= 0].tolist())) > 1:
            keep = labels >= 0
            silhouette = float(silhouette_score(x[keep], labels[keep]))
    else:
        candidates = [k] if k else list(range(2, min(10, n - 1) + 1))
        best = None
        rng = np.random.default_rng(0)
        probe = rng.choice(n, size=min(n, 2000), replace=False)
        for kk in candidates:
            if kk >= n:
                raise InvalidRequest(f"k={kk} needs more than {n} documents", param="k")
            model = KMeans(n_clusters=kk, n_init=4, random_state=0).fit(x)
            labs = model.labels_
            score = float(silhouette_score(x[probe], labs[probe])) if len(set(labs[probe].tolist())) > 1 else -1.0
            if best is None or score > best[0]:
                best = (score, labs)
        assert best is not None
        silhouette, labels = best
    terms = ctfidf_terms(texts, labels, top_terms)
    clusters = []
    for c in sorted(set(labels.tolist())):
        members = np.where(labels == c)[0]
        centre = x[members].mean(axis=0)
        closest = members[np.argsort(-(x[members] @ centre))[:3]]
        words = terms.get(c, [])
        clusters.append({"id": int(c), "name": "noise" if c < 0 else (" / ".join(words[:3]) or f"cluster {c}"),
                         "terms": words, "size": int(len(members)), "examples": [ids[i] for i in closest]})
    clusters.sort(key=lambda cl: (cl["id"] < 0, -cl["size"]))
    coords = PCA(n_components=2, random_state=0).fit_transform(x) if n >= 2 else np.zeros((n, 2))
    shown = np.linspace(0, n - 1, min(n, MAX_POINTS)).astype(int)
    names = {cl["id"]: cl["name"] for cl in clusters}
    points = [{"id": ids[i], "x": round(float(coords[i, 0]), 5), "y": round(float(coords[i, 1]), 5),
               "cluster": int(labels[i]), "cluster_name": names[int(labels[i])], "text": texts[i][:160]}
              for i in shown]
    return {"object": "clustering", "method": method, "documents": n, "k": len([c for c in clusters if c["id"] >= 0]),
            "silhouette": None if silhouette is None else round(silhouette, 4), "clusters": clusters,
            "points": points, "projection": "pca"}


async def cluster(svc: VectorService, name: str, *, method: str = "kmeans", k: int | None = None,
                  min_cluster_size: int = 5, terms: int = 5, sample: int = 5000,
                  project_id: str = DEFAULT_PROJECT) -> dict[str, Any]:
    if method not in ("kmeans", "hdbscan"):
        raise InvalidRequest("method must be kmeans or hdbscan", param="method")
    col = svc.collection(name, project_id, fresh=True)
    ids, texts, matrix = await asyncio.to_thread(_load, svc, col, sample)
    if len(ids) < 3:
        raise InvalidRequest(f"clustering needs at least 3 documents; collection '{name}' has {len(ids)}",
                             param="collection")
    result = await asyncio.to_thread(_cluster, ids, texts, matrix, method, k, min_cluster_size, terms)
    return {"collection": name, **result}


async def outliers(svc: VectorService, name: str, *, k: int = 5, limit: int = 20, sample: int = 20_000,
                   project_id: str = DEFAULT_PROJECT) -> dict[str, Any]:
    """Each document's mean distance to its k nearest neighbours; the farthest are the outliers."""
    col = svc.collection(name, project_id, fresh=True)
    ids, texts, matrix = await asyncio.to_thread(_load, svc, col, sample)
    if len(ids) < 2:
        raise InvalidRequest(f"outlier scores need at least 2 documents; collection '{name}' has {len(ids)}",
                             param="collection")
    scores = await asyncio.to_thread(knn_scores, matrix, matrix, col.distance, k, True)
    order = np.argsort(-scores)[:limit]
    p95 = float(np.percentile(scores, 95))
    return {"object": "outliers", "collection": name, "k": k, "documents": len(ids),
            "mean": round(float(scores.mean()), 6), "p95": round(p95, 6),
            "data": [{"id": ids[i], "score": round(float(scores[i]), 6), "text": texts[i][:300],
                      "outlier": bool(scores[i] > p95)} for i in order]}


async def novelty(svc: VectorService, name: str, texts: list[str], *, k: int = 5, threshold: float | None = None,
                  sample: int = 20_000, project_id: str = DEFAULT_PROJECT) -> dict[str, Any]:
    """Score new texts (documents, production prompts) by their distance to the collection; flag those
    farther than the collection's own documents usually are from each other (its 95th percentile)."""
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise InvalidRequest("texts must be a non-empty list of non-empty strings", param="texts")
    col = svc.collection(name, project_id, fresh=True)
    ids, _texts, matrix = await asyncio.to_thread(_load, svc, col, sample)
    if len(ids) < 2:
        raise InvalidRequest(f"a novelty check needs at least 2 documents in '{name}'", param="collection")
    queries = await svc.embed(col, texts)
    own = await asyncio.to_thread(knn_scores, matrix[:5000], matrix, col.distance, k, True)
    cut = float(np.percentile(own, 95)) if threshold is None else float(threshold)
    scores = await asyncio.to_thread(knn_scores, queries, matrix, col.distance, k)
    nearest = np.argmin(_distances(queries, matrix, col.distance), axis=1)
    return {"object": "novelty", "collection": name, "k": k, "threshold": round(cut, 6),
            "data": [{"text": t[:300], "score": round(float(s), 6), "novel": bool(s > cut), "nearest_id": ids[j]}
                     for t, s, j in zip(texts, scores, nearest, strict=True)]}
