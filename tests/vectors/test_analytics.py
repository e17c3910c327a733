"""Clusters named by distinctive terms, outliers, novelty: on real embeddings of two clear topics."""

from __future__ import annotations

import pytest

from shipyard.errors import InvalidRequest
from shipyard.vectors import analytics
from shipyard.vectors.service import VectorService


async def test_kmeans_finds_the_topics_and_names_them(topics: VectorService) -> None:
    result = await analytics.cluster(topics, "topics", k=2)
    assert result["k"] == 2 and sorted(c["size"] for c in result["clusters"]) == [6, 6]
    by_topic = {}
    for point in result["points"]:
        by_topic.setdefault(point["id"].split("-")[0], set()).add(point["cluster"])
    assert by_topic["cooking"] != by_topic["databases"] and all(len(s) == 1 for s in by_topic.values())
    terms = {word for c in result["clusters"] for word in c["terms"]}
    assert terms & {"postgresql", "database", "write", "ahead", "log", "logging"}
    assert len(result["points"]) == 12 and all(isinstance(p["x"], float) for p in result["points"])
    auto = await analytics.cluster(topics, "topics")  # k picked by silhouette
    assert auto["k"] >= 2 and auto["silhouette"] is not None
    hdb = await analytics.cluster(topics, "topics", method="hdbscan", min_cluster_size=3)
    assert sum(c["size"] for c in hdb["clusters"]) == 12


async def test_outliers_and_novelty(topics: VectorService) -> None:
    await topics.upsert("topics", [{"id": "odd", "text": "The violinist tuned her instrument before the concert."}])
    result = await analytics.outliers(topics, "topics", k=3, limit=3)
    assert result["data"][0]["id"] == "odd" and result["data"][0]["outlier"]
    check = await analytics.novelty(topics, "topics", ["Knead the bread dough until smooth and let it rise.",
                                                       "Stock markets fell sharply as investors sold bank shares."])
    familiar, novel = check["data"]
    assert familiar["score"] < novel["score"] and not familiar["novel"] and novel["novel"]
    assert familiar["nearest_id"] == "cooking-1"
    with pytest.raises(InvalidRequest):
        await analytics.novelty(topics, "topics", [])
    await topics.create("tiny")
    with pytest.raises(InvalidRequest):
        await analytics.cluster(topics, "tiny")
