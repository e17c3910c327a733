"""Where training runs: the one place that picks the device and the precision that goes with it."""

from __future__ import annotations

from typing import Any


def pick_device(preference: str | None = None) -> Any:
    """`finetune_device` when set, else CUDA when a GPU is visible, else Apple's MPS, else the CPU."""
    import torch

    if preference:
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"finetune_device={preference} but no CUDA device is available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def train_dtype(device: Any) -> Any:
    """bf16 where the GPU does it natively (half the memory, same range); fp32 elsewhere, since CPU bf16
    matmuls are slower than fp32 on most machines and fp16 needs loss scaling."""
    import torch

    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def peak_memory_bytes(device: Any) -> int:
    """Peak memory of this process on `device`: the CUDA allocator's peak, or the process's peak RSS."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)
