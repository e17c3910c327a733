"""Built-in evaluators that need no model: string checks, JSON, numbers, ROUGE-L, BLEU, limits,
and embedding similarity (the one that asks the bundled embedding model)."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest
from shipyard.evals.base import Case, Env, Evaluator, Score, register

_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _norm(text: str, ignore_case: bool) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text.lower() if ignore_case else text


@register("exact_match")
class ExactMatch(Evaluator):
    needs_reference = True
    default_threshold = 1.0

    def __init__(self, name: str | None = None, threshold: float | None = None, ignore_case: bool = True) -> None:
        super().__init__(name, threshold)
        self.ignore_case = ignore_case

    async def score(self, case: Case, env: Env) -> Score:
        out = _norm(case.text, self.ignore_case)
        hit = any(out == _norm(ref, self.ignore_case) for ref in case.references)
        return self.judged(1.0 if hit else 0.0)


@register("contains")
class Contains(Evaluator):
    """The output contains the reference (any of several), or a fixed `value`."""

    default_threshold = 1.0

    def __init__(self, name: str | None = None, threshold: float | None = None, value: str | list[str] | None = None,
                 ignore_case: bool = True, mode: str = "any") -> None:
        super().__init__(name, threshold)
        if mode not in ("any", "all"):
            raise ValueError("mode is 'any' or 'all'")
        self.values = None if value is None else ([value] if isinstance(value, str) else list(value))
        self.ignore_case, self.mode = ignore_case, mode

    async def score(self, case: Case, env: Env) -> Score:
        needles = self.values if self.values is not None else case.references
        if not needles:
            return Score(error="contains needs a 'value' or an expected output")
        out = _norm(case.text, self.ignore_case)
        found = [_norm(n, self.ignore_case) in out for n in needles]
        hit = all(found) if self.mode == "all" else any(found)
        return self.judged(1.0 if hit else 0.0)


@register("regex")
class Regex(Evaluator):
    default_threshold = 1.0

    def __init__(self, name: str | None = None, threshold: float | None = None, pattern: str = "",
                 ignore_case: bool = False, full: bool = False) -> None:
        super().__init__(name, threshold)
        if not pattern:
            raise ValueError("give a 'pattern'")
        try:
            self.pattern = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            raise ValueError(f"bad pattern: {exc}") from exc
        self.full = full

    async def score(self, case: Case, env: Env) -> Score:
        text = case.text.strip()
        hit = self.pattern.fullmatch(text) if self.full else self.pattern.search(text)
        return self.judged(1.0 if hit else 0.0)


def parse_json(text: str) -> Any:
    """Parse a model's JSON answer, accepting a Markdown code fence around it (models love those)."""
    fenced = _FENCE.match(text)
    return json.loads(fenced.group(1) if fenced else text)


@register("json_valid")
class JsonValid(Evaluator):
    default_threshold = 1.0

    async def score(self, case: Case, env: Env) -> Score:
        try:
            parse_json(case.text)
        except ValueError as exc:
            return self.judged(0.0, f"not JSON: {exc}")
        return self.judged(1.0)


@register("json_schema")
class JsonSchema(Evaluator):
    default_threshold = 1.0

    def __init__(self, name: str | None = None, threshold: float | None = None,
                 schema: dict[str, Any] | None = None) -> None:
        super().__init__(name, threshold)
        import jsonschema

        if not isinstance(schema, dict):
            raise ValueError("give a JSON 'schema' object")
        cls = jsonschema.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"invalid schema: {exc.message}") from exc
        self.validator = cls(schema)

    async def score(self, case: Case, env: Env) -> Score:
        try:
            data = parse_json(case.text)
        except ValueError as exc:
            return self.judged(0.0, f"not JSON: {exc}")
        errors = sorted(self.validator.iter_errors(data), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(root)"
            return self.judged(0.0, f"{where}: {errors[0].message}")
        return self.judged(1.0)


def first_number(text: str) -> float | None:
    match = _NUMBER.search(text)
    return None if match is None else float(match.group(0).replace(",", ""))


@register("numeric")
class Numeric(Evaluator):
    """The first number in the output equals the reference within an absolute or relative tolerance."""

    needs_reference = True
    default_threshold = 1.0

    def __init__(self, name: str | None = None, threshold: float | None = None, abs_tol: float = 1e-6,
                 rel_tol: float = 0.0) -> None:
        super().__init__(name, threshold)
        self.abs_tol, self.rel_tol = float(abs_tol), float(rel_tol)

    async def score(self, case: Case, env: Env) -> Score:
        got = first_number(case.text)
        if got is None:
            return self.judged(0.0, "no number in the output")
        refs = [first_number(r) for r in case.references]
        refs_ok = [r for r in refs if r is not None]
        if not refs_ok:
            return Score(error="the expected output holds no number")
        best = min(refs_ok, key=lambda r: abs(got - r))
        ok = abs(got - best) <= max(self.abs_tol, self.rel_tol * abs(best))
        return self.judged(1.0 if ok else 0.0, f"got {got:g}, expected {best:g}")


@register("rouge_l")
class RougeL(Evaluator):
    """ROUGE-L F1 (rouge-score, with stemming) against the best-matching reference."""

    needs_reference = True

    def __init__(self, name: str | None = None, threshold: float | None = None) -> None:
        super().__init__(name, threshold)
        from rouge_score import rouge_scorer

        self.scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)

    async def score(self, case: Case, env: Env) -> Score:
        best = max(self.scorer.score(ref, case.text)["rougeL"].fmeasure for ref in case.references)
        return self.judged(float(best))


@register("bleu")
class Bleu(Evaluator):
    """Sentence BLEU (sacrebleu, smoothed), scaled to 0..1, against all references."""

    needs_reference = True

    async def score(self, case: Case, env: Env) -> Score:
        import sacrebleu

        return self.judged(float(sacrebleu.sentence_bleu(case.text, case.references).score) / 100.0)


@register("length")
class Length(Evaluator):
    default_threshold = 1.0

    def __init__(self, name: str | None = None, threshold: float | None = None, min: int | None = None,
                 max: int | None = None, unit: str = "chars") -> None:
        super().__init__(name, threshold)
        if unit not in ("chars", "words", "tokens"):
            raise ValueError("unit is 'chars', 'words' or 'tokens'")
        if min is None and max is None:
            raise ValueError("give 'min', 'max' or both")
        self.min, self.max, self.unit = min, max, unit

    async def score(self, case: Case, env: Env) -> Score:
        if self.unit == "tokens":
            if case.completion_tokens is None:
                return Score(error="the target reported no token count")
            n = case.completion_tokens
        else:
            n = len(case.text) if self.unit == "chars" else len(case.text.split())
        ok = (self.min is None or n >= self.min) and (self.max is None or n <= self.max)
        return self.judged(1.0 if ok else 0.0, f"{n} {self.unit}")


@register("latency")
class Latency(Evaluator):
    default_threshold = 1.0

    def __init__(self, name: str | None = None, threshold: float | None = None, max_ms: float = 0) -> None:
        super().__init__(name, threshold)
        if not max_ms or max_ms <= 0:
            raise ValueError("give 'max_ms' > 0")
        self.max_ms = float(max_ms)

    async def score(self, case: Case, env: Env) -> Score:
        if case.latency_ms is None:
            return Score(error="no latency was measured")
        return self.judged(1.0 if case.latency_ms <= self.max_ms else 0.0, f"{case.latency_ms:.0f} ms")


@register("cost")
class Cost(Evaluator):
    default_threshold = 1.0

    def __init__(self, name: str | None = None, threshold: float | None = None, max_cost: float = -1) -> None:
        super().__init__(name, threshold)
        if max_cost is None or max_cost < 0:
            raise ValueError("give 'max_cost' >= 0")
        self.max_cost = float(max_cost)

    async def score(self, case: Case, env: Env) -> Score:
        if case.cost is None:
            return Score(error="the call's cost is unknown (no price for this model)")
        return self.judged(1.0 if case.cost <= self.max_cost else 0.0, f"cost {case.cost:.6f}")


@register("embedding_similarity")
class EmbeddingSimilarity(Evaluator):
    """Cosine similarity of output and reference embeddings (best reference), from a gateway model."""

    needs_reference = True

    def __init__(self, name: str | None = None, threshold: float | None = None,
                 model: str = "all-minilm-l6-v2") -> None:
        super().__init__(name, threshold)
        self.model = model

    async def score(self, case: Case, env: Env) -> Score:
        platform = env.need_platform("embedding_similarity")
        provider = platform.registry.resolve(self.model)
        if not provider.supports_embeddings:
            raise InvalidRequest(f"model '{self.model}' does not serve embeddings")
        vectors = np.asarray(await provider.embed_vectors([case.text or " ", *case.references]), dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1)
        norms[norms == 0] = 1.0
        unit = vectors / norms[:, None]
        sims = unit[1:] @ unit[0]
        return self.judged(float(np.clip(sims.max(), -1.0, 1.0)))

