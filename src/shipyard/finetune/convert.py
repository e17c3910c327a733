"""A PEFT LoRA adapter to a GGUF LoRA adapter that llama.cpp loads next to its base GGUF (`lora_path`).

This follows llama.cpp's `convert_lora_to_gguf.py` (shipped in llama-cpp-python's source distribution,
which needs its whole `conversion/` package and a Hugging Face base config to run): the same GGUF keys
(`general.type=adapter`, `adapter.type=lora`, `adapter.lora.alpha`), the same tensor names
(`blk.N.attn_q.weight.lora_a/.lora_b`), and the same Q/K row permutation llama.cpp applies to
Llama-family attention weights for its RoPE layout, applied to lora_B, which holds the output rows.
It reads the architecture and head counts from the base GGUF itself, so it runs offline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidRequest

# Architectures whose Q/K rows llama.cpp permutes when converting from Hugging Face (LlamaModel.undo_permute).
_PERMUTED = {"llama"}
SUPPORTED = {"llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "phi3", "stablelm"}


def base_architecture(gguf_path: Path) -> dict[str, Any]:
    import gguf

    reader = gguf.GGUFReader(str(gguf_path))
    arch = reader.fields["general.architecture"].contents()

    def field(key: str) -> Any:
        f = reader.fields.get(f"{arch}.{key}")
        return None if f is None else f.contents()

    return {"arch": arch, "blocks": field("block_count"), "heads": field("attention.head_count"),
            "kv_heads": field("attention.head_count_kv") or field("attention.head_count")}


def check_convertible(gguf_path: Path) -> None:
    arch = base_architecture(gguf_path)["arch"]
    if arch not in SUPPORTED:
        raise InvalidRequest(f"base model architecture '{arch}' cannot be served with a LoRA adapter here "
                             f"(supported: {', '.join(sorted(SUPPORTED))})", param="model", code="model_not_available")


def _permute(weights: Any, n_head: int) -> Any:
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def adapter_to_gguf(adapter_dir: Path, base_gguf: Path, out: Path) -> Path:
    """Write `out` (a GGUF LoRA adapter) from a PEFT adapter directory trained on `base_gguf`."""
    import gguf
    from safetensors.torch import load_file

    info = base_architecture(base_gguf)
    arch_enum = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == info["arch"])
    names = gguf.get_tensor_name_map(arch_enum, int(info["blocks"]))
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    pairs: dict[str, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        for part in ("lora_A", "lora_B"):
            marker = f".{part}.weight"
            if name.endswith(marker):
                base = name.removeprefix("base_model.model.").removesuffix(marker) + ".weight"
                pairs.setdefault(base, {})[part] = tensor
                break
        else:
            raise ValueError(f"unexpected tensor in the adapter: {name} (only LoRA A/B matrices can be converted)")
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), info["arch"])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for base, ab in sorted(pairs.items()):
        target = names.get_name(base, try_suffixes=(".weight",))
        if target is None or "lora_A" not in ab or "lora_B" not in ab:
            raise ValueError(f"cannot map adapter tensor {base} to the base model's GGUF names")
        lora_a, lora_b = ab["lora_A"].float(), ab["lora_B"].float()
        if info["arch"] in _PERMUTED:
            if base.endswith("q_proj.weight"):
                lora_b = _permute(lora_b, int(info["heads"]))
            elif base.endswith("k_proj.weight"):
                lora_b = _permute(lora_b, int(info["kv_heads"]))
        writer.add_tensor(target + ".lora_a", lora_a.contiguous().numpy())
        writer.add_tensor(target + ".lora_b", lora_b.contiguous().numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out
