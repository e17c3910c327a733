"""Functions a `python` step can call: registered with `@chain_step("name")` or by a plugin through the
`shipyard.chain_steps` entry-point group (`name = "package.module:function"`).

A function takes the step's `args` as keyword arguments and returns a JSON-friendly value; it may be
sync (run in a worker thread) or async. A few built-ins serve the library chains.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from shipyard.errors import InvalidRequest

GROUP = "shipyard.chain_steps"
FUNCTIONS: dict[str, Callable[..., Any]] = {}
_plugins: dict[str, Any] | None = None


def chain_step(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function for `python` steps under `name`."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        FUNCTIONS[name] = fn
        return fn

    return register


def _entry_points() -> dict[str, Any]:
    global _plugins
    if _plugins is None:
        _plugins = {ep.name: ep for ep in entry_points(group=GROUP)}
    return _plugins


def lookup(name: str) -> Callable[..., Any]:
    fn = FUNCTIONS.get(name)
    if fn is not None:
        return fn
    ep = _entry_points().get(name)
    if ep is not None:
        try:
            fn = ep.load()
        except Exception as exc:
            raise InvalidRequest(f"the plugin function '{name}' ({ep.value}) failed to load: {exc}") from exc
        FUNCTIONS[name] = fn
        return fn
    known = sorted(set(FUNCTIONS) | set(_entry_points()))
    raise InvalidRequest(f"no python step function named '{name}' (registered: {', '.join(known)})")


# -- built-ins ---------------------------------------------------------------------------------------------
@chain_step("split_text")
def split_text(text: str, size: int = 2000, overlap: int = 0) -> list[str]:
    """Chunks of about `size` characters, cut at paragraph, then sentence, then word boundaries."""
    if not isinstance(text, str):
        raise ValueError("text must be a string")
    if size < 50 or not 0 <= overlap < size:
        raise ValueError("size must be at least 50 and overlap between 0 and size")
    pieces = [p for p in re.split(r"(?<=\n\n)|(?<=[.!?])\s+", text) if p and p.strip()]
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        while len(piece) > size:  # one sentence longer than a chunk: cut at a word boundary
            cut = piece.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            pieces_head, piece = piece[:cut], piece[cut:].lstrip()
            if current:
                chunks.append(current.strip())
                current = ""
            chunks.append(pieces_head.strip())
        if len(current) + len(piece) + 1 > size and current:
            chunks.append(current.strip())
            current = current[-overlap:] if overlap else ""
        current = f"{current} {piece}" if current else piece
    if current.strip():
        chunks.append(current.strip())
    return chunks


@chain_step("join")
def join(items: list[Any], separator: str = "\n\n") -> str:
    return separator.join(str(i) for i in items)


@chain_step("number_sources")
def number_sources(hits: list[dict[str, Any]], max_chars: int = 1200) -> str:
    """Retrieved passages as `[1] text` lines, the numbers a model cites."""
    return "\n\n".join(f"[{i + 1}] {str(h.get('text', ''))[:max_chars]}" for i, h in enumerate(hits))


@chain_step("cite")
def cite(answer: Any, hits: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer with its citations resolved to the passages (id, text, score) they number."""
    if isinstance(answer, dict):
        text, numbers = answer.get("answer", ""), answer.get("citations") or []
    else:
        text, numbers = str(answer), []
    numbers = [int(n) for n in numbers if isinstance(n, (int, float, str)) and str(n).isdigit()]
    numbers += [int(n) for n in re.findall(r"\[(\d+)\]", str(text))]
    sources = []
    for n in dict.fromkeys(numbers):
        if 1 <= n <= len(hits):
            h = hits[n - 1]
            sources.append({"n": n, "id": h.get("id"), "text": h.get("text"), "score": h.get("score")})
    return {"answer": text, "citations": sources}


@chain_step("word_overlap")
def word_overlap(a: str, b: str) -> float:
    """Share of distinct words the two texts have in common (0..1): a cheap back-translation check."""
    wa, wb = set(re.findall(r"\w+", str(a).lower())), set(re.findall(r"\w+", str(b).lower()))
    return round(len(wa & wb) / max(1, len(wa | wb)), 4)
