"""LLM-as-judge and groundedness: a rubric sent to any model the gateway serves, and a verdict parser
that refuses to guess.

A judge reply is parsed in this order: the last JSON object carrying a score-like key; otherwise
labelled lines (`Score: 4`, `Verdict: PASS`, `Rating: 4/5`), which must all agree; otherwise a reply
that is nothing but a verdict word or a number. A reply that gives none of these, contradicts itself,
or scores outside the scale is recorded as an error with the reply quoted: never a score, never NaN.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from shipyard.evals.base import Case, Env, Evaluator, Score, as_text, register
from shipyard.observe.tracing import span

SCORE_KEYS = ("score", "verdict", "rating", "grade", "result", "passed", "pass", "label", "decision")
PASS_WORDS = {"pass", "passed", "yes", "true", "correct", "good", "y", "1", "supported", "grounded"}
FAIL_WORDS = {"fail", "failed", "no", "false", "incorrect", "wrong", "bad", "n", "0", "unsupported",
              "not grounded", "ungrounded"}
_LABELLED = re.compile(r"\b(?:score|verdict|rating|grade|result|decision)\b\s*[:=]\s*\**\s*"
                       r"([A-Za-z]+|[-+]?\d+(?:\.\d+)?)(?:\s*/\s*(\d+))?", re.IGNORECASE)
_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_SCALE = re.compile(r"^\s*(-?\d+)\s*-\s*(-?\d+)\s*$")


class VerdictError(ValueError):
    pass


def parse_scale(scale: str) -> tuple[float, float] | None:
    """`pass_fail` -> None; `"1-5"` -> (1, 5)."""
    if scale in ("pass_fail", "binary"):
        return None
    m = _SCALE.match(scale)
    if not m or int(m.group(1)) >= int(m.group(2)):
        raise ValueError(f"scale is 'pass_fail' or a range like '1-5', not '{scale}'")
    return float(m.group(1)), float(m.group(2))


def _word_value(word: str, bounds: tuple[float, float] | None) -> float | None:
    w = word.strip().strip(".!*\"'`").lower()
    if bounds is None:
        if w in PASS_WORDS:
            return 1.0
        if w in FAIL_WORDS:
            return 0.0
        return None
    try:
        return float(w)
    except ValueError:
        return None


def _json_value(value: Any, bounds: tuple[float, float] | None) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0 if bounds is None else None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        head = value.split("/")[0]
        return _word_value(head, bounds)
    return None


def _check(value: float, bounds: tuple[float, float] | None, reply: str) -> float:
    lo, hi = bounds if bounds is not None else (0.0, 1.0)
    if value != value or not lo <= value <= hi or (bounds is None and value not in (0.0, 1.0)):
        raise VerdictError(f"the judge's score {value:g} is outside the scale {lo:g}-{hi:g}: {_quote(reply)}")
    return value


def _quote(reply: str) -> str:
    text = " ".join(reply.split())
    return repr(text[:200] + ("…" if len(text) > 200 else ""))


def parse_verdict(reply: str, scale: str = "pass_fail") -> tuple[float, str | None]:
    """The judge's raw score on its scale, and its stated reason; VerdictError when there is none."""
    bounds = parse_scale(scale)
    text = (reply or "").strip()
    if not text:
        raise VerdictError("the judge replied with nothing")
    for candidate in reversed(_JSON_OBJECT.findall(text)):
        try:
            obj = json.loads(candidate)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        lowered = {str(k).lower(): v for k, v in obj.items()}
        if "<" in str(lowered.get("reason", "")) or isinstance(lowered.get("score"), str) and "<" in lowered["score"]:
            continue  # the judge echoed our instructions' template, which is not a verdict
        for key in SCORE_KEYS:
            if key in lowered:
                value = _json_value(lowered[key], bounds)
                if value is None:
                    raise VerdictError(f"the judge's '{key}' is not a verdict: {_quote(text)}")
                reason = lowered.get("reason") or lowered.get("reasoning") or lowered.get("explanation")
                return _check(value, bounds, text), None if reason is None else str(reason)
    labelled = []
    for m in _LABELLED.finditer(text):
        value = _word_value(m.group(1), bounds)
        if value is not None and m.group(2) and bounds is not None and float(m.group(2)) != bounds[1]:
            raise VerdictError(f"the judge scored out of {m.group(2)}, the scale is {scale}: {_quote(text)}")
        if value is not None:
            labelled.append(value)
    if labelled:
        if len(set(labelled)) > 1:
            raise VerdictError(f"the judge gave conflicting verdicts: {_quote(text)}")
        return _check(labelled[0], bounds, text), None
    value = _word_value(text, bounds)
    if value is not None:
        return _check(value, bounds, text), None
    raise VerdictError(f"could not parse a verdict from the judge's reply: {_quote(text)}")


def _block(tag: str, value: Any) -> str:
    return f"[{tag}]\n{as_text(value).strip()}\n[/{tag}]\n\n"


@register("llm_judge")
class LLMJudge(Evaluator):
    """A rubric judged by a model. `scale` is `pass_fail` or a range like `1-5`; the value is normalized
    to 0..1 and, with `samples` > 1, averaged over independent samples (pass = at least `threshold`)."""

    default_threshold = 0.5
    include_context = False
    default_rubric = "The answer is correct and responsive to the input."
    reference_rubric = "The answer is correct: it agrees with the reference answer."

    def __init__(self, name: str | None = None, threshold: float | None = None, model: str = "",
                 rubric: str | None = None, scale: str = "pass_fail", samples: int = 1,
                 temperature: float | None = None, max_tokens: int = 256, use_reference: bool = True) -> None:
        super().__init__(name, threshold)
        if not model:
            raise ValueError("give the judge 'model' (any model the gateway serves)")
        self.bounds = parse_scale(scale)
        if not 1 <= int(samples) <= 20:
            raise ValueError("samples is between 1 and 20")
        self.model, self.rubric, self.scale, self.samples = model, rubric, scale, int(samples)
        self.temperature = (0.0 if samples == 1 else 0.7) if temperature is None else float(temperature)
        self.max_tokens, self.use_reference = int(max_tokens), use_reference

    def instructions(self) -> str:
        if self.bounds is None:
            return ('Does the ANSWER meet the RUBRIC? Reply with JSON only, on one line: '
                    '{"reason": "<one short sentence>", "score": 1} if it does, '
                    '{"reason": "<one short sentence>", "score": 0} if it does not.')
        lo, hi = self.bounds
        return (f"How well does the ANSWER meet the RUBRIC, from {lo:g} (not at all) to {hi:g} (fully)? "
                f'Reply with JSON only, on one line: {{"reason": "<one short sentence>", "score": <integer>}}.')

    def messages(self, case: Case) -> list[dict[str, str]]:
        has_ref = self.use_reference and case.expected is not None
        rubric = self.rubric or (self.reference_rubric if has_ref else self.default_rubric)
        prompt = _block("RUBRIC", rubric) + _block("INPUT", case.input)
        if has_ref:
            prompt += _block("REFERENCE", " | ".join(case.references))
        if self.include_context and case.context is not None:
            prompt += _block("CONTEXT", case.context)
        prompt += _block("ANSWER", case.text) + self.instructions()
        return [{"role": "system", "content": "You are a strict, impartial evaluator. You judge only by the rubric."},
                {"role": "user", "content": prompt}]

    async def _sample(self, env: Env, messages: list[dict[str, str]]) -> tuple[float | None, str | None, str]:
        body = {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens}
        try:
            answer = await env.complete(body)
        except Exception as exc:
            return None, None, f"judge call failed: {getattr(exc, 'message', None) or exc}"
        reply = as_text((answer.get("choices") or [{}])[0].get("message"))
        try:
            raw, reason = parse_verdict(reply, self.scale)
        except VerdictError as exc:
            return None, None, str(exc)
        return raw, reason, reply

    async def score(self, case: Case, env: Env) -> Score:
        messages = self.messages(case)
        async with span("evaluator", self.name, input={"model": self.model, "scale": self.scale}) as s:
            outcomes = await asyncio.gather(*(self._sample(env, messages) for _ in range(self.samples)))
            parsed = [(raw, reason) for raw, reason, _ in outcomes if raw is not None]
            errors = [note for raw, _, note in outcomes if raw is None]
            if not parsed:
                s.update(status="error", error_message=errors[0])
                return Score(error=errors[0], details={"errors": errors} if len(errors) > 1 else None)
            lo, hi = self.bounds if self.bounds is not None else (0.0, 1.0)
            values = [(raw - lo) / (hi - lo) for raw, _ in parsed]
            value = sum(values) / len(values)
            s.update(output={"value": value, "raw": [raw for raw, _ in parsed]})
        details: dict[str, Any] = {"raw": [raw for raw, _ in parsed]}
        if errors:
            details["errors"] = errors
        reason = next((r for _, r in parsed if r), None)
        return self.judged(value, reason, **details)


_WORD = re.compile(r"[a-z0-9]+")
_STOP = set("the a an and or of to in on for with is are was were be been it its this that as at by from "
            "which who what when where how than then there their they them he she we you i not no".split())


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2]


@register("groundedness")
class Groundedness(LLMJudge):
    """Is the answer supported by the item's context? With a `model`, a judge decides (pass_fail or a
    range); without one, the share of the answer's content words found in the context (fast, crude)."""

    include_context = True
    default_rubric = ("Every factual claim in the ANSWER is supported by the CONTEXT. Claims not found in "
                      "the CONTEXT, or contradicting it, make the answer ungrounded.")
    reference_rubric = default_rubric
    default_threshold = 0.5

    def __init__(self, name: str | None = None, threshold: float | None = None, model: str = "",
                 **params: Any) -> None:
        self.lexical = not model
        super().__init__(name, threshold, model=model or "-", use_reference=False, **params)

    async def score(self, case: Case, env: Env) -> Score:
        if case.context is None or not as_text(case.context).strip():
            return Score(error="groundedness needs the item's context")
        if not self.lexical:
            return await super().score(case, env)
        words = _content_words(case.text)
        if not words:
            return Score(error="the answer has no content words to check")
        known = set(_content_words(as_text(case.context)))
        missing = sorted({w for w in words if w not in known})
        value = sum(w in known for w in words) / len(words)
        return self.judged(value, None if not missing else "not in context: " + ", ".join(missing[:20]))


@register("guard")
class GuardScanners(Evaluator):
    """Guardrail scanners (shipyard.guard) as an evaluator: 1 when none of the chosen scanners triggers on
    the output (or, with `direction="input"`, on the input); the reason names what triggered."""

    default_threshold = 1.0

    def __init__(self, name: str | None = None, threshold: float | None = None,
                 scanners: list[str] | dict[str, dict[str, Any]] | None = None, direction: str = "output",
                 policy: dict[str, Any] | None = None) -> None:
        super().__init__(name, threshold)
        from shipyard.guard import build

        if direction not in ("input", "output"):
            raise ValueError("direction is 'input' or 'output'")
        if policy is None:
            if not scanners:
                raise ValueError("give 'scanners' (names, or names to options) or a guard 'policy'")
            rules = {n: {} for n in scanners} if isinstance(scanners, list) else dict(scanners)
            policy = {direction: {n: {**opts, "enabled": True, "action": "flag"} for n, opts in rules.items()}}
        self.policy = build(policy, defaults=False)
        self.direction = direction

    async def score(self, case: Case, env: Env) -> Score:
        from shipyard.guard import scan

        text = case.text if self.direction == "output" else as_text(case.input)
        result = scan(text, self.direction, self.policy)
        triggered = result.triggered
        reason = "; ".join(f.verdict.reason or f.verdict.scanner for f in triggered) or None
        return self.judged(0.0 if triggered else 1.0, reason, findings=result.summary()["findings"])
