"""The provider interface.

Every backend speaks OpenAI's shapes at this boundary: `chat` takes a validated chat-completions body
and returns a chat.completion dict, `stream_chat` yields lists of chat.completion.chunk dicts (the
chunks that became available together, so the gateway can relay them in one write), `embed` returns
an embeddings list response. Translation to other wire formats (Anthropic, llama.cpp) lives inside the
provider, so the gateway never grows an `if provider == ...` chain. New backends arrive as plugins
in the `shipyard.providers` entry-point group.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from shipyard.config import ModelSpec, Settings
from shipyard.errors import InvalidRequest

ENTRY_POINT_GROUP = "shipyard.providers"


class Provider:
    """Base class: a provider serves one public model name described by a `ModelSpec`."""

    kind: str = "base"
    supports_chat: bool = False
    supports_embeddings: bool = False

    def __init__(self, spec: ModelSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings

    @property
    def timeout(self) -> float:
        return self.spec.timeout or self.settings.upstream_timeout

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        raise InvalidRequest(f"model '{self.spec.name}' does not support chat completions", param="model")

    def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
        raise InvalidRequest(f"model '{self.spec.name}' does not support chat completions", param="model")

    async def embed(self, inputs: list[str], body: dict[str, Any]) -> dict[str, Any]:
        raise InvalidRequest(f"model '{self.spec.name}' does not support embeddings", param="model")

    async def embed_vectors(self, texts: list[str]) -> np.ndarray:
        """Embeddings as a float32 matrix, for capabilities inside the process (vectors, caches, drift).

        Skips the OpenAI list-of-floats shape; providers with a faster native path override it."""
        data = await self.embed(texts, {"model": self.spec.name, "encoding_format": "float"})
        return np.asarray([d["embedding"] for d in sorted(data["data"], key=lambda d: d["index"])], dtype=np.float32)

    async def check(self) -> None:
        """Raise if the model cannot be served (used by /ready); cheap, never generates."""

    async def aclose(self) -> None:
        """Release connections, threads and loaded weights."""

    def describe(self) -> dict[str, Any]:
        return {"id": self.spec.name, "object": "model", "created": 0, "owned_by": self.kind}


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def now() -> int:
    return int(time.time())


_BUILTIN = {
    "local": "shipyard.providers.llamacpp:LlamaCppProvider",
    "local-embeddings": "shipyard.providers.embeddings:SentenceTransformerProvider",
    "openai": "shipyard.providers.openai_compat:OpenAICompatProvider",
    "anthropic": "shipyard.providers.anthropic:AnthropicProvider",
}


def provider_class(kind: str) -> type[Provider]:
    """Resolve a provider kind from the entry-point group (plugins), falling back to the built-ins."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == kind:
            return ep.load()
    target = _BUILTIN.get(kind)
    if target is None:
        known = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} | set(_BUILTIN))
        raise ValueError(f"unknown provider '{kind}' (known: {', '.join(known)})")
    module, _, attr = target.partition(":")
    import importlib

    return getattr(importlib.import_module(module), attr)
