"""Masking and reversible pseudonymization.

`redact` replaces each span with `[REDACTED_<LABEL>]`. `Vault.substitute` replaces each span with a
numbered placeholder (`[EMAIL_1]`; the same value always gets the same placeholder within a call),
so the model never sees the data but can still refer to it, and `Vault.restore` puts the originals
back into the answer. `StreamRestorer` does the same on a stream, holding back the tail of a delta
that could be the start of a placeholder split across chunks.
"""

from __future__ import annotations

import re

from shipyard.guard.types import Match

_PLACEHOLDER = re.compile(r"\[([A-Z][A-Z0-9_]*_\d+)\]")
_PARTIAL = re.compile(r"\[[A-Z0-9_]{0,40}$")


def redact(text: str, matches: list[Match]) -> str:
    return _replace(text, matches, lambda m: f"[REDACTED_{m.label}]")


def _replace(text: str, matches: list[Match], make: object) -> str:
    if not matches:
        return text
    parts: list[str] = []
    last = 0
    for m in sorted(matches, key=lambda m: m.start):
        if m.start < last:
            continue
        parts.append(text[last:m.start])
        parts.append(make(m))  # type: ignore[operator]
        last = m.end
    parts.append(text[last:])
    return "".join(parts)


class Vault:
    """Placeholder <-> original value, for one call."""

    def __init__(self) -> None:
        self.forward: dict[tuple[str, str], str] = {}
        self.back: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.back)

    def placeholder(self, label: str, value: str) -> str:
        key = (label, value)
        found = self.forward.get(key)
        if found is None:
            self.counts[label] = self.counts.get(label, 0) + 1
            found = f"[{label}_{self.counts[label]}]"
            self.forward[key] = found
            self.back[found] = value
        return found

    def substitute(self, text: str, matches: list[Match]) -> str:
        return _replace(text, matches, lambda m: self.placeholder(m.label, text[m.start:m.end]))

    def restore(self, text: str) -> str:
        if not self.back or "[" not in text:
            return text
        return _PLACEHOLDER.sub(lambda m: self.back.get(m.group(), m.group()), text)


class StreamRestorer:
    """Restores placeholders in streamed text that may split a placeholder across deltas."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.pending = ""

    def feed(self, delta: str) -> str:
        text = self.pending + delta
        cut = _PARTIAL.search(text)
        if cut is not None:
            self.pending, text = text[cut.start():], text[:cut.start()]
        else:
            self.pending = ""
        return self.vault.restore(text)

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return self.vault.restore(text)
