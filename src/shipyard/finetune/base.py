"""Base models: which public models can be fine-tuned, and loading them into transformers.

A base is any model the gateway serves on the local llama.cpp provider (a GGUF file; the bundled
SmolLM2 by default). transformers loads a GGUF by dequantizing it (about 20 s for SmolLM2 on two
cores), so the first load also writes the dequantized weights and tokenizer to a cache directory
(with the GGUF quantizer detached, which saving requires) and later loads take well under a second.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidRequest
from shipyard.providers.bundled import resolve_model_path

log = logging.getLogger(__name__)
_lock = threading.Lock()
_tokenizers: dict[str, Any] = {}


@dataclass(frozen=True)
class BaseRef:
    name: str  # the public model name, e.g. smollm2
    ref: str  # what the local provider loads: bundled:NAME or a GGUF path
    path: Path  # the GGUF file on this machine


def fine_tunable(registry: Any) -> list[str]:
    return sorted(name for name, p in registry.providers.items()
                  if p.kind == "local" and not p.spec.params.get("lora_path"))


def resolve_base(registry: Any, name: Any) -> BaseRef:
    """The base GGUF behind a public model name, or a clear error naming the models that can be tuned."""
    provider = registry.providers.get(name) if isinstance(name, str) else None
    if provider is None or provider.kind != "local" or provider.spec.params.get("lora_path"):
        choices = ", ".join(fine_tunable(registry)) or "none configured"
        reason = "does not exist" if provider is None else "cannot be fine-tuned here (local GGUF models only)"
        raise InvalidRequest(f"Model '{name}' {reason}; models available for fine-tuning: {choices}",
                             param="model", code="model_not_available")
    ref = provider.spec.model or "bundled:smollm2"
    return BaseRef(name=name, ref=ref, path=resolve_model_path(ref))


def _cache_dir(cache_root: Path, gguf: Path) -> Path:
    st = gguf.stat()
    return cache_root / f"{gguf.stem}-{st.st_size}-{int(st.st_mtime)}"


def _write_cache(target: Path, model: Any, tokenizer: Any) -> None:
    """Write to a private directory and rename it into place, so concurrent workers never see half a cache."""
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}"
    try:
        model.hf_quantizer = None  # a GGUF-loaded model refuses to save while the quantizer is attached
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    except OSError as exc:  # another worker renamed its copy first, or the disk is full: only a cache
        log.info("base model cache not written (%s)", exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_tokenizer(gguf: Path, cache_root: Path) -> Any:
    """The tokenizer (with its chat template) of a GGUF model; cached in the process and on disk."""
    from transformers import AutoTokenizer

    key = str(gguf)
    with _lock:
        if key not in _tokenizers:
            cached = _cache_dir(cache_root, gguf)
            if (cached / "tokenizer_config.json").exists():
                tok = AutoTokenizer.from_pretrained(cached)
            else:
                tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            _tokenizers[key] = tok
        return _tokenizers[key]


def load_model(gguf: Path, cache_root: Path, dtype: Any) -> tuple[Any, Any]:
    """(model, tokenizer) for training, from the dequantized cache when present."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a worker's log is for events, not tqdm bars

    cached = _cache_dir(cache_root, gguf)
    tokenizer = load_tokenizer(gguf, cache_root)
    if (cached / "config.json").exists():
        model = AutoModelForCausalLM.from_pretrained(cached, dtype=dtype)
    else:
        cache_root.mkdir(parents=True, exist_ok=True)
        import torch

        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        _write_cache(cached, model, tokenizer)
        if dtype != torch.float32:
            model = model.to(dtype)
    return model, tokenizer
