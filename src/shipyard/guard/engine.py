"""Run a policy's scanners over a text or a chat's messages and decide what happens.

The first scanner whose verdict triggers with action `block` stops the scan. `redact` and
`pseudonymize` findings are applied to the text (overlaps resolved, longest first), `flag` findings
are only reported. Nothing here knows about HTTP or the gateway; the gateway stage and the
`/api/guard/scan` route both call these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.guard import metrics
from shipyard.guard.policy import Policy, Rule, default_policy
from shipyard.guard.pseudonym import Vault, _replace
from shipyard.guard.scanners.pii import resolve_overlaps
from shipyard.guard.types import Match, ScanContext, Verdict

DEFAULT_ROLES = ("user", "tool", "function")
_ROLE_KIND = {"user": "user", "tool": "tool", "function": "tool", "assistant": "assistant", "system": "system",
              "developer": "system"}


@dataclass(slots=True)
class Finding:
    verdict: Verdict
    action: str  # the action taken: block | redact | pseudonymize | flag | pass
    where: str = "text"

    def as_dict(self, text: str | None = None, reveal: bool = False) -> dict[str, Any]:
        return {**self.verdict.as_dict(text, reveal), "action": self.action, "where": self.where}


@dataclass
class GuardResult:
    direction: str
    findings: list[Finding] = field(default_factory=list)
    blocked: Finding | None = None
    text: str | None = None  # the text after redaction/pseudonymization (single-text scans)
    changed: bool = False

    @property
    def triggered(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict.triggered]

    @property
    def action(self) -> str:
        """The strongest action taken: block > pseudonymize > redact > flag > pass."""
        order = ("block", "pseudonymize", "redact", "flag")
        taken = {f.action for f in self.findings}
        return next((a for a in order if a in taken), "pass")

    def summary(self) -> dict[str, Any]:
        """What is safe to keep with a request record or a span: no matched text, only labels and spans."""
        return {"direction": self.direction, "action": self.action,
                "blocked_by": self.blocked.verdict.scanner if self.blocked else None,
                "findings": [{"scanner": f.verdict.scanner, "action": f.action, "score": round(f.verdict.score, 3),
                              "reason": f.verdict.reason, "where": f.where,
                              "labels": sorted({m.label for m in f.verdict.matches})} for f in self.triggered]}


def _applies(rule: Rule, ctx: ScanContext) -> bool:
    if ctx.direction != "input":
        return True
    roles = rule.roles or DEFAULT_ROLES
    return ctx.role in roles or (ctx.role == "tool" and ("tool" in roles or "function" in roles)) or \
        (ctx.role == "document" and "tool" in roles)


def scan_text(text: str, policy: Policy | None = None, ctx: ScanContext | None = None, vault: Vault | None = None,
              where: str = "text", result: GuardResult | None = None, skip: tuple[str, ...] = (),
              count: bool = True) -> GuardResult:
    """Scan one text under a policy; `result.text` is the text with redactions applied.

    `count=False` leaves the Prometheus counters alone (the gateway's per-chunk stream scans, so one
    streamed answer counts as one decision, like a whole one)."""
    policy = policy or default_policy()
    ctx = ctx or ScanContext()
    result = result or GuardResult(ctx.direction)
    redactions: list[tuple[Match, str]] = []
    for name, rule, scanner in policy.scanners(ctx.direction):
        if name in skip or not _applies(rule, ctx):
            continue
        verdict = scanner.scan(text, ctx)
        action = rule.action if verdict.triggered else "pass"
        if action in ("redact", "pseudonymize") and not verdict.matches:
            action = "flag"
        if action == "pseudonymize" and vault is None:
            action = "redact"
        finding = Finding(verdict, action, where)
        result.findings.append(finding)
        if count or action != "pass":
            metrics.count(name, action)
        if action == "block":
            result.blocked = finding
            result.text = text
            return result
        if action in ("redact", "pseudonymize"):
            redactions += [(m, action) for m in verdict.matches]
    result.text = apply(text, redactions, vault)
    result.changed = result.changed or result.text != text
    return result


def apply(text: str, redactions: list[tuple[Match, str]], vault: Vault | None) -> str:
    if not redactions:
        return text
    modes = {id(m): mode for m, mode in redactions}
    kept = resolve_overlaps([m for m, _ in redactions])

    def make(m: Match) -> str:
        if modes[id(m)] == "pseudonymize" and vault is not None:
            return vault.placeholder(m.label, text[m.start:m.end])
        return f"[REDACTED_{m.label}]"

    return _replace(text, kept, make)


def message_texts(content: Any) -> list[tuple[int | None, str]]:
    """The text pieces of a message: (None, text) for a string, (part index, text) for text parts."""
    if isinstance(content, str):
        return [(None, content)]
    out = []
    if isinstance(content, list):
        for i, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                out.append((i, part["text"]))
    return out


def system_prompt(messages: list[dict[str, Any]]) -> str:
    return "\n".join(t for m in messages if m.get("role") in ("system", "developer")
                     for _i, t in message_texts(m.get("content")))


def check_messages(messages: list[dict[str, Any]], policy: Policy | None = None,
                   vault: Vault | None = None) -> tuple[GuardResult, list[dict[str, Any]]]:
    """Scan a chat's input messages; returns the result and the messages as the model should see them.

    System and assistant messages are trusted by default (written by the application or already
    scanned when they were produced). Each user turn is scanned with the earlier user turns as
    history, so an attack spread over several messages is still seen whole.
    """
    policy = policy or default_policy()
    result = GuardResult("input")
    out: list[dict[str, Any]] = []
    history: list[str] = []
    for index, message in enumerate(messages):
        role = _ROLE_KIND.get(str(message.get("role")), "user")
        pieces = message_texts(message.get("content")) if role in ("user", "tool") else []
        new_content = message.get("content")
        for part, text in pieces:
            ctx = ScanContext(direction="input", role=role, history="\n".join(history[-3:]) if role == "user" else "")
            where = f"messages[{index}]" + (f".content[{part}]" if part is not None else "")
            scan_text(text, policy, ctx, vault, where, result)
            if result.blocked is not None:
                return result, messages
            if result.text != text:
                if part is None:
                    new_content = result.text
                else:
                    if new_content is message.get("content"):
                        new_content = [dict(p) if isinstance(p, dict) else p for p in new_content]
                    new_content[part]["text"] = result.text
            if role == "user":
                history.append(text)
        out.append(message if new_content is message.get("content") else {**message, "content": new_content})
    result.text = None
    return result, out
