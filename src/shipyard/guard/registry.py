"""Which scanners exist: the built-ins plus plugins from the `shipyard.scanners` entry-point group.

A plugin is a `Scanner` subclass; `pyproject.toml` of the plugin package declares
`[project.entry-points."shipyard.scanners"] my_scanner = "my_pkg.module:MyScanner"`, and the name
can then be used in any policy.
"""

from __future__ import annotations

import importlib
import threading
from functools import cache
from importlib.metadata import entry_points
from typing import Any

import orjson

from shipyard.guard.types import Scanner

ENTRY_POINT_GROUP = "shipyard.scanners"
BUILTIN = {
    "prompt_injection": "shipyard.guard.scanners.injection:PromptInjection",
    "pii": "shipyard.guard.scanners.pii:PII",
    "secrets": "shipyard.guard.scanners.secrets:Secrets",
    "toxicity": "shipyard.guard.scanners.toxicity:Toxicity",
    "banned_topics": "shipyard.guard.scanners.toxicity:BannedTopics",
    "system_prompt_leak": "shipyard.guard.scanners.output:SystemPromptLeak",
    "exfiltration": "shipyard.guard.scanners.output:Exfiltration",
    "json_schema": "shipyard.guard.scanners.output:JSONSchema",
}


def _load(target: str) -> type[Scanner]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@cache
def scanner_classes() -> dict[str, type[Scanner]]:
    classes = {name: _load(target) for name, target in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in classes:  # built-ins keep their names
            cls = ep.load()
            if isinstance(cls, type) and issubclass(cls, Scanner):
                classes[ep.name] = cls
    return classes


def describe() -> list[dict[str, Any]]:
    return [{"name": name, "directions": sorted(cls.directions), "redactable": cls.redactable,
             "default_threshold": cls.default_threshold, "description": cls.description}
            for name, cls in sorted(scanner_classes().items())]


_instances: dict[tuple[str, bytes, float | None], Scanner] = {}
_lock = threading.Lock()


def get_scanner(name: str, options: dict[str, Any] | None = None, threshold: float | None = None) -> Scanner:
    """A configured scanner, shared between calls with the same options (loading a model once)."""
    key = (name, orjson.dumps(options or {}, option=orjson.OPT_SORT_KEYS), threshold)
    found = _instances.get(key)
    if found is not None:
        return found
    classes = scanner_classes()
    if name not in classes:
        raise ValueError(f"unknown scanner {name!r} (known: {', '.join(sorted(classes))})")
    with _lock:
        found = _instances.get(key)
        if found is None:
            found = classes[name](options or {}, threshold)
            if len(_instances) > 512:  # policies churned through many option sets: start over
                _instances.clear()
            _instances[key] = found
    return found
