"""Every library chain, installed into the registry and run end to end on the bundled local model (smollm2).

The model is tiny, so these assert structure and completion; schema-bound steps must give valid JSON
(llama.cpp constrains generation to the schema)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from shipyard.chains.runner import run_chain
from shipyard.chains.service import chains_of, library
from shipyard.config import Settings
from shipyard.platform import Platform
from tests.chains.conftest import spans

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def local(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    p = Platform.build(Settings(data_dir=Path(tmp_path_factory.mktemp("library"))))
    await p.start()
    for name in library():
        version, created = chains_of(p).install("default", name)
        assert created and version.version == 1
    yield p
    await p.stop()


async def run(platform: Platform, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    result = await run_chain(platform, name, "latest", inputs)
    assert result["status"] == "ok" and result["version"] == 1
    kinds = {s.kind for s in spans(platform, result["trace_id"])}
    assert {"chain", "generation"} <= kinds
    return result


async def test_summarize_maps_over_chunks_then_reduces(local: Platform) -> None:
    document = "\n\n".join(
        f"Part {i}. The lighthouse on the northern cape was built in {1850 + i} and guided fishing boats home. "
        "Its keeper wrote a daily log of weather, ships and repairs." for i in range(3))
    result = await run(local, "summarize", {"document": document, "chunk_size": 250, "max_tokens": 32})
    chunks, partials = result["steps"]["chunks"], result["steps"]["partials"]
    assert len(chunks) >= 2 and len(partials) == len(chunks) and all(p.strip() for p in partials)
    assert isinstance(result["output"], str) and result["output"].strip()
    names = [s.name for s in spans(local, result["trace_id"])]
    assert sum(n.startswith("partials[") for n in names) == len(chunks)


async def test_extract_gives_json_matching_the_schema(local: Platform) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    result = await run(local, "extract", {"text": "Maria Lopez is 34 years old and works as a nurse.",
                                          "schema": schema})
    assert set(result["output"]) >= {"name", "age"} and isinstance(result["output"]["age"], int)


async def test_classify_picks_one_of_the_labels(local: Platform) -> None:
    labels = ["positive", "negative", "neutral"]
    result = await run(local, "classify", {"text": "I absolutely love this phone, the battery lasts for days!",
                                           "labels": labels})
    assert result["output"] in labels


async def test_answer_cites_passages_from_a_collection(local: Platform) -> None:
    passages = [{"id": "fr", "text": "Paris is the capital and largest city of France.", "score": 0.92, "metadata": {}},
                {"id": "de", "text": "Berlin is the capital of Germany.", "score": 0.41, "metadata": {}}]

    class TinyCollection:  # stands behind the `vectors` service interface the retrieve step calls
        async def search(self, collection: str, query: str, *, top_k: int, filters: Any,
                         project_id: str) -> list[dict[str, Any]]:
            assert collection == "geo" and project_id == "default"
            return passages[:top_k]

    local.services["vectors"] = TinyCollection()
    try:
        result = await run(local, "answer", {"question": "What is the capital of France?", "collection": "geo",
                                             "top_k": 2})
    finally:
        del local.services["vectors"]
    draft = result["steps"]["draft"]
    assert isinstance(draft["answer"], str) and all(isinstance(n, int) for n in draft["citations"])
    out = result["output"]
    assert out["answer"] == draft["answer"]
    assert all(c["id"] in ("fr", "de") for c in out["citations"])


async def test_translate_and_back_check(local: Platform) -> None:
    result = await run(local, "translate", {"text": "The cat sleeps on the sofa.", "target_language": "French",
                                            "max_tokens": 40})
    out = result["output"]
    assert out["translation"].strip() and out["back_translation"].strip()
    assert 0.0 <= out["word_overlap"] <= 1.0 and isinstance(out["faithful"], bool)
    names = {s.name for s in spans(local, result["trace_id"])}
    assert {"checks.overlap", "checks.judge"} <= names
