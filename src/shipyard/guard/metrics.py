"""Prometheus counters for guard decisions (exposed by the server's /metrics)."""

from __future__ import annotations

from shipyard.observe.metrics import GUARD_DECISIONS

DECISIONS = GUARD_DECISIONS  # defined once in observe.metrics, where every capability's metrics live
_children: dict[tuple[str, str], object] = {}


def count(scanner: str, action: str) -> None:
    child = _children.get((scanner, action))
    if child is None:
        child = _children[(scanner, action)] = DECISIONS.labels(scanner=scanner, action=action)
    child.inc()  # type: ignore[attr-defined]
