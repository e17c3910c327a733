"""Fast regex matching for scanners.

Python's `re` scans quickly for a pattern that starts with a literal, and slowly for one that starts
with `\\b` or a lookbehind (it tries the whole pattern at every position). `Rx` compiles a pattern
without its leading `\\b` and checks the word boundary itself, and can skip a pattern outright when
none of its `hints` (substrings any match must contain) occurs in the text. The results are those
of the original pattern; tests check that on the whole corpus.
"""

from __future__ import annotations

import re
from collections.abc import Iterator


def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class Rx:
    __slots__ = ("boundary", "hints", "pattern", "rx")

    def __init__(self, pattern: str, flags: int = 0, hints: tuple[str, ...] = ()) -> None:
        self.pattern = pattern
        self.boundary = pattern.startswith(r"\b") and not pattern.startswith(r"\b|")
        self.rx = re.compile(pattern[2:] if self.boundary else pattern, flags)
        self.hints = hints  # lower-case substrings; the pattern is skipped when the text has none of them

    @staticmethod
    def _ok(text: str, m: re.Match[str]) -> bool:
        """`\\b` at the match start: a word character on exactly one side."""
        s = m.start()
        before = s > 0 and _word(text[s - 1])
        after = s < len(text) and _word(text[s])
        return before != after

    def skip(self, lower: str) -> bool:
        return bool(self.hints) and not any(h in lower for h in self.hints)

    def search(self, text: str, lower: str | None = None) -> re.Match[str] | None:
        if self.hints and self.skip(lower if lower is not None else text.lower()):
            return None
        if not self.boundary:
            return self.rx.search(text)
        pos = 0
        while True:
            m = self.rx.search(text, pos)
            if m is None or self._ok(text, m):
                return m
            pos = m.start() + 1

    def finditer(self, text: str, lower: str | None = None, pos: int = 0, endpos: int | None = None
                 ) -> Iterator[re.Match[str]]:
        if self.hints and self.skip(lower if lower is not None else text.lower()):
            return
        end = len(text) if endpos is None else endpos
        if not self.boundary:
            yield from self.rx.finditer(text, pos, end)
            return
        while pos <= end:
            m = self.rx.search(text, pos, end)
            if m is None:
                return
            if self._ok(text, m):
                yield m
                pos = m.end() if m.end() > m.start() else m.start() + 1
            else:
                pos = m.start() + 1
