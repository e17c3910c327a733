"""Prometheus counters for guard decisions (exposed by the server's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

DECISIONS = Counter("shipyard_guard_decisions_total", "Guard scanner decisions, by scanner and action taken",
                    ["scanner", "action"])
_children: dict[tuple[str, str], object] = {}


def count(scanner: str, action: str) -> None:
    child = _children.get((scanner, action))
    if child is None:
        child = _children[(scanner, action)] = DECISIONS.labels(scanner=scanner, action=action)
    child.inc()  # type: ignore[attr-defined]
