"""Scanners for what a model says: system-prompt leakage, exfiltration through links, invalid JSON.

Leakage is measured as the share of the system prompt's word 5-grams that reappear in the answer
(robust to the model reformatting whitespace or casing), plus canary tokens: a secret marker placed
in the system prompt that must never come back. Exfiltration looks for Markdown images (which
clients fetch without a click, so a query string is a data channel) and links whose query carries
data: long or encoded values, or text from the conversation.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from shipyard.guard.normalize import fold
from shipyard.guard.types import Match, ScanContext, Scanner, Verdict

_WORD = re.compile(r"[a-z0-9]+")
CANARY_PREFIX = "SHIPYARD-CANARY-"


@lru_cache(maxsize=256)
def _shingles(system_prompt: str, n: int) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(fold(system_prompt))
    return frozenset(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


class SystemPromptLeak(Scanner):
    name = "system_prompt_leak"
    directions = frozenset({"output"})
    default_threshold = 0.5
    description = "the answer repeats the system prompt (n-gram overlap) or a canary token"

    def __init__(self, options: dict[str, Any] | None = None, threshold: float | None = None) -> None:
        super().__init__(options, threshold)
        self.n = int(self.options.get("ngram", 5))
        self.canaries = [str(c) for c in self.options.get("canaries", [])]
        self.min_words = int(self.options.get("min_words", 8))  # shorter system prompts are not worth a leak alarm

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        canaries = list(self.canaries)
        canaries += re.findall(re.escape(CANARY_PREFIX) + r"[0-9a-f]{8,}", ctx.system_prompt)
        for token in canaries:
            at = text.find(token)
            if at >= 0:
                return self.verdict(1.0, "canary token from the system prompt appears in the answer",
                                    [Match(at, at + len(token), "CANARY", 1.0)])
        prompt = ctx.system_prompt
        if not prompt:
            return self.verdict(0.0, "")
        grams = _shingles(prompt, self.n)
        if len(grams) + self.n - 1 < self.min_words:
            return self.verdict(0.0, "")
        words = _WORD.findall(fold(text))
        seen = {tuple(words[i:i + self.n]) for i in range(len(words) - self.n + 1)}
        overlap = len(grams & seen) / len(grams) if grams else 0.0
        score = min(1.0, overlap * 1.25)  # 40% of the prompt's 5-grams verbatim is already a leak
        reason = f"the answer repeats {overlap:.0%} of the system prompt" if score >= self.threshold else ""
        return self.verdict(score, reason, [Match(0, len(text), "SYSTEM_PROMPT", score)] if reason else [])


_MD_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?(https?://[^)\s>]+)>?[^)]*\)")
_HTML_IMG = re.compile(r"<img\b[^>]*\bsrc\s*=\s*['\"]?(https?://[^'\"\s>]+)", re.I)
_LINK = re.compile(r"\]\(\s*<?(https?://[^)\s>]+)|(?<![(\w])(https?://[^\s<>\"')\]]+)")
_ENCODED = re.compile(r"^(?:[A-Za-z0-9+/_-]{16,}={0,2}|(?:%[0-9A-Fa-f]{2}){4,}.*|[0-9a-fA-F]{24,})$")


class Exfiltration(Scanner):
    name = "exfiltration"
    directions = frozenset({"output"})
    default_threshold = 0.5
    description = "data smuggled out through Markdown images or links with data in their query"

    def __init__(self, options: dict[str, Any] | None = None, threshold: float | None = None) -> None:
        super().__init__(options, threshold)
        self.allowed = {d.lower().lstrip(".") for d in self.options.get("allowed_domains", [])}
        self.max_value = int(self.options.get("max_query_value", 40))

    def _allowed(self, host: str) -> bool:
        host = host.lower()
        return any(host == d or host.endswith("." + d) for d in self.allowed)

    def _data_score(self, url: str, conversation: str) -> tuple[float, str]:
        parts = urlsplit(url)
        values = [v for _k, v in parse_qsl(parts.query, keep_blank_values=True)]
        path_tail = unquote(parts.path.rsplit("/", 1)[-1])
        best, why = 0.0, ""
        for v in [*values, path_tail]:
            if len(v) >= 8 and conversation and v.lower() in conversation:
                return 0.95, "carries text from the conversation"
            if len(v) >= 16 and _ENCODED.match(v):
                best, why = max(best, 0.85), "carries an encoded payload"
            elif len(v) > self.max_value:
                best, why = max(best, 0.7), f"carries a {len(v)}-character value"
        if values and best == 0:
            best, why = 0.2, "has a query string"
        return best, why

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        if "http" not in text:
            return self.verdict(0.0, "")
        conversation = fold(ctx.history + " " + ctx.system_prompt)
        best, reason, matches = 0.0, "", []
        images = {m.group(1): m for rx in (_MD_IMAGE, _HTML_IMG) for m in rx.finditer(text)}
        for url, m in images.items():
            if self._allowed(urlsplit(url).hostname or ""):
                continue
            score, why = self._data_score(url, conversation)
            score = max(score + 0.3, 0.6) if urlsplit(url).query else max(score, 0.3)
            score = min(score, 1.0)
            matches.append(Match(m.start(), m.end(), "IMAGE_URL", score))
            if score > best:
                best, reason = score, f"Markdown image to {urlsplit(url).hostname} {why or 'with a query string'}"
        for m in _LINK.finditer(text):
            url = m.group(1) or m.group(2)
            if url in images or self._allowed(urlsplit(url).hostname or ""):
                continue
            score, why = self._data_score(url, conversation)
            if score >= 0.5:
                matches.append(Match(m.start(), m.end(), "LINK_URL", score))
                if score > best:
                    best, reason = score, f"link to {urlsplit(url).hostname} {why}"
        if best < self.threshold:
            return self.verdict(best, "")
        return self.verdict(best, f"possible data exfiltration: {reason}", [m for m in matches
                                                                            if m.score >= self.threshold])


class JSONSchema(Scanner):
    name = "json_schema"
    directions = frozenset({"output"})
    default_threshold = 0.5
    description = "the answer is not valid JSON, or does not match the schema the request asked for"

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        fmt = ctx.response_format or self.options.get("response_format")
        schema = self.options.get("schema")
        if fmt:
            kind = fmt.get("type")
            if kind == "json_schema":
                schema = (fmt.get("json_schema") or {}).get("schema", schema)
            elif kind != "json_object" and schema is None:
                return self.verdict(0.0, "")
        elif schema is None:
            return self.verdict(0.0, "")
        body = text.strip()
        fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.S)
        if fenced:
            body = fenced.group(1)
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return self.verdict(1.0, f"the answer is not valid JSON: {exc}", [Match(0, len(text), "INVALID_JSON")])
        if schema:
            import jsonschema

            try:
                errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=lambda e: e.path)
            except jsonschema.SchemaError as exc:
                return self.verdict(0.0, f"the requested schema is itself invalid: {exc.message}")
            if errors:
                where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
                return self.verdict(1.0, f"the answer does not match the schema at {where}: {errors[0].message}",
                                    [Match(0, len(text), "SCHEMA_MISMATCH")])
        return self.verdict(0.0, "")


def json_requested(response_format: Any) -> bool:
    return isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema")

