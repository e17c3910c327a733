"""The shapes every scanner speaks: a verdict with a score, the spans it matched, and a readable reason.

Scanners know nothing of HTTP, policies or the gateway: they look at one text with some context and
say what they saw. What to do about it (block, redact, pseudonymize, flag) is the policy's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["input", "output"]
Action = Literal["block", "redact", "pseudonymize", "flag"]
ACTIONS: tuple[str, ...] = ("block", "redact", "pseudonymize", "flag")


@dataclass(slots=True)
class Match:
    """A span of the scanned text (offsets into the text as given) and what it is."""

    start: int
    end: int
    label: str  # EMAIL, CREDIT_CARD, OPENAI_KEY, instruction_override, ...
    score: float = 1.0

    def as_dict(self, text: str | None = None, reveal: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label, "score": round(self.score, 4)}
        if reveal and text is not None:
            out["text"] = text[self.start:self.end]
        return out


@dataclass(slots=True)
class Verdict:
    scanner: str
    triggered: bool
    score: float
    reason: str = ""
    matches: list[Match] = field(default_factory=list)
    redactable: bool = False  # the matches can be masked (PII, secrets); otherwise only block/flag make sense

    def as_dict(self, text: str | None = None, reveal: bool = False) -> dict[str, Any]:
        return {"scanner": self.scanner, "triggered": self.triggered, "score": round(self.score, 4),
                "reason": self.reason, "matches": [m.as_dict(text, reveal) for m in self.matches]}


@dataclass(slots=True)
class ScanContext:
    """What a scanner may know besides the text itself."""

    direction: Direction = "input"
    role: str = "user"  # user | tool | document | assistant
    system_prompt: str = ""  # for leakage checks on output
    response_format: dict[str, Any] | None = None  # the request's response_format, for JSON checks
    history: str = ""  # earlier user turns, joined: attacks split across messages


class Scanner:
    """Base class for scanners. Subclasses set `name` and `directions` and implement `scan`.

    `options` come from the policy (per scanner); a scanner validates them in `__init__` and raises
    ValueError with a readable message on bad ones. Instances are cached per options and shared
    between concurrent calls, so `scan` must not keep per-call state on `self`.
    """

    name: str = "scanner"
    directions: frozenset[str] = frozenset({"input", "output"})
    default_threshold: float = 0.5
    redactable: bool = False
    description: str = ""

    def __init__(self, options: dict[str, Any] | None = None, threshold: float | None = None) -> None:
        self.options = dict(options or {})
        self.threshold = self.default_threshold if threshold is None else float(threshold)

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        raise NotImplementedError

    def verdict(self, score: float, reason: str, matches: list[Match] | None = None) -> Verdict:
        return Verdict(self.name, score > 0 and score >= self.threshold, score, reason, matches or [], self.redactable)
