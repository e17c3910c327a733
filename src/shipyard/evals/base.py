"""What an evaluator sees and returns, the registry, and how a spec becomes an evaluator.

An evaluator spec is a type name (`"exact_match"`) or a dict (`{"type": "regex", "pattern": "^\\d+$",
"name": "digits", "threshold": 1}`). Custom evaluators come from plain Python functions, registered
with `@evaluator("name")` or published by a package in the `shipyard.evaluators` entry-point group, so
a project's own checks run in experiments, gates and online evaluation like the built-in ones.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.auth import LOCAL_ADMIN, Principal
from shipyard.errors import InvalidRequest

if TYPE_CHECKING:
    from shipyard.platform import Platform

ENTRY_POINT_GROUP = "shipyard.evaluators"


@dataclass
class Case:
    """One answer to judge, with what it is judged against."""

    input: Any
    output: Any
    expected: Any = None
    context: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None
    cost: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def text(self) -> str:
        return as_text(self.output)

    @property
    def references(self) -> list[str]:
        """Acceptable answers: a list in `expected` means any of them (the OpenAI Evals `ideal` rule)."""
        if self.expected is None:
            return []
        items = self.expected if isinstance(self.expected, list) else [self.expected]
        return [as_text(x) for x in items]


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "content" in value:
        return as_text(value["content"])
    if isinstance(value, list) and value and all(isinstance(m, dict) and "content" in m for m in value):
        return "\n".join(as_text(m["content"]) for m in value)
    import orjson

    return orjson.dumps(value).decode()


@dataclass
class Score:
    value: float | None = None  # higher is better; most evaluators give 0..1
    passed: bool | None = None  # None when the evaluator has no pass/fail threshold
    reason: str | None = None
    error: str | None = None  # the evaluator could not score; never turned into a number
    details: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "passed": self.passed}
        if self.reason:
            out["reason"] = self.reason[:2000]
        if self.error:
            out["error"] = self.error[:2000]
        if self.details:
            out["details"] = self.details
        return out


@dataclass
class Env:
    """What an evaluator may use: the platform (models, embeddings) and who it acts for."""

    platform: Platform | None = None
    principal: Principal = LOCAL_ADMIN
    tag: str = "experiment"  # marks the model calls evaluation makes, so online rules never score them

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """A chat completion through the gateway (traced, metered, limited like any other call)."""
        platform = self.need_platform(f"model '{body.get('model')}'")
        return await platform.gateway.complete(body, self.principal, shipyard_eval=self.tag)

    def need_platform(self, what: str) -> Platform:
        if self.platform is None:
            raise InvalidRequest(f"{what} needs a running Shipyard platform (models are served by the gateway)")
        return self.platform


def export_scores(env: Env, trace_id: str, span_id: str | None, scores: dict[str, Score],
                  metadata: dict[str, Any]) -> None:
    """Also write scores to the observability scores table (`shipyard.observe.scores`), so they show on
    the trace like any other feedback. A no-op in builds without it; errors are not scores, so skipped."""
    if env.platform is None:
        return
    try:
        from shipyard.observe.scores import add_score  # type: ignore[import-not-found]
    except ImportError:
        return
    for name, sc in scores.items():
        if sc.value is None:
            continue
        add_score(env.platform.writer, trace_id=trace_id, span_id=span_id, name=name[:100], value=float(sc.value),
                  data_type="numeric", source="evaluator", comment=sc.reason, project_id=env.principal.project_id,
                  metadata=metadata)


class Evaluator:
    """Base class. Subclasses set `type` and implement `score`; parameters are keyword arguments."""

    type: ClassVar[str] = ""
    needs_reference: ClassVar[bool] = False
    default_threshold: ClassVar[float | None] = None

    def __init__(self, name: str | None = None, threshold: float | None = None) -> None:
        self.name = name or self.type
        self.threshold = self.default_threshold if threshold is None else float(threshold)

    async def score(self, case: Case, env: Env) -> Score:  # pragma: no cover - abstract
        raise NotImplementedError

    def judged(self, value: float, reason: str | None = None, **details: Any) -> Score:
        """A value with the pass decision implied by the threshold."""
        passed = None if self.threshold is None else value >= self.threshold
        return Score(value=value, passed=passed, reason=reason, details=details or None)

    async def evaluate(self, case: Case, env: Env) -> Score:
        """Score, turning any failure into a recorded error and refusing non-finite numbers."""
        if self.needs_reference and case.expected is None:
            return Score(error=f"{self.name} needs an expected output (reference) and the item has none")
        try:
            result = await self.score(case, env)
        except Exception as exc:  # an evaluator bug or an unreachable judge is one item's error, not the run's
            message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
            return Score(error=f"{exc.__class__.__name__}: {message}")
        if result.value is not None and (not isinstance(result.value, (int, float)) or not math.isfinite(result.value)):
            return Score(error=f"{self.name} produced a non-finite score ({result.value!r})")
        if result.error:
            result.value = result.passed = None
        return result


EVALUATORS: dict[str, type[Evaluator]] = {}
_entry_points_loaded = False


def register(type_name: str) -> Callable[[type[Evaluator]], type[Evaluator]]:
    """Class decorator for built-in and plugin evaluator classes."""

    def deco(cls: type[Evaluator]) -> type[Evaluator]:
        cls.type = type_name
        EVALUATORS[type_name] = cls
        return cls

    return deco


def _coerce(result: Any, threshold: float | None) -> Score:
    if isinstance(result, Score):
        return result
    if isinstance(result, bool):
        return Score(value=1.0 if result else 0.0, passed=result)
    if isinstance(result, (int, float)):
        value = float(result)
        return Score(value=value, passed=None if threshold is None else value >= threshold)
    if isinstance(result, dict):
        return Score(value=result.get("value", result.get("score")), passed=result.get("passed"),
                     reason=result.get("reason"), details=result.get("details"))
    raise TypeError(f"an evaluator function must return a bool, a number, a dict or a Score, not {type(result)}")


def function_evaluator(type_name: str, fn: Callable[..., Any], *, needs_reference: bool = False,
                       threshold: float | None = None) -> type[Evaluator]:
    """Wrap `fn(case)` or `fn(case, **params)` (sync or async) as an evaluator class."""

    class FunctionEvaluator(Evaluator):
        default_threshold = threshold
        __doc__ = fn.__doc__

        def __init__(self, name: str | None = None, threshold: float | None = None, **params: Any) -> None:
            super().__init__(name, threshold)
            self.params = params

        async def score(self, case: Case, env: Env) -> Score:
            result = fn(case, **self.params)
            if inspect.isawaitable(result):
                result = await result
            return _coerce(result, self.threshold)

    FunctionEvaluator.needs_reference = needs_reference
    FunctionEvaluator.__name__ = f"Evaluator_{type_name}"
    return register(type_name)(FunctionEvaluator)


def evaluator(type_name: str, *, needs_reference: bool = False,
              threshold: float | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a custom Python function as an evaluator:

        @evaluator("polite")
        def polite(case):
            return "please" in case.text.lower()
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        function_evaluator(type_name, fn, needs_reference=needs_reference, threshold=threshold)
        return fn

    return deco


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in EVALUATORS:
            continue
        obj = ep.load()
        if inspect.isclass(obj) and issubclass(obj, Evaluator):
            register(ep.name)(obj)
        elif callable(obj):
            function_evaluator(ep.name, obj)


def known() -> list[str]:
    _load_builtins()
    _load_entry_points()
    return sorted(EVALUATORS)


def _load_builtins() -> None:
    from shipyard.evals import heuristics, judge  # noqa: F401  (registration happens at import)


def normalize_spec(spec: Any) -> dict[str, Any]:
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise InvalidRequest("an evaluator is a type name or an object with a 'type'", param="evaluators")
    return dict(spec)


def build(spec: Any) -> Evaluator:
    """An evaluator from its spec; a bad spec is an InvalidRequest naming what is wrong."""
    spec = normalize_spec(spec)
    names = known()
    kind = spec.pop("type")
    cls = EVALUATORS.get(kind)
    if cls is None:
        raise InvalidRequest(f"unknown evaluator '{kind}' (known: {', '.join(names)})", param="evaluators")
    try:
        return cls(**spec)
    except InvalidRequest:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"evaluator '{kind}': {exc}", param="evaluators") from exc


def build_all(specs: list[Any]) -> list[Evaluator]:
    if not isinstance(specs, list) or not specs:
        raise InvalidRequest("give at least one evaluator", param="evaluators")
    built = [build(s) for s in specs]
    seen: set[str] = set()
    for ev in built:
        if ev.name in seen:
            raise InvalidRequest(f"two evaluators are named '{ev.name}'; give one a 'name'", param="evaluators")
        seen.add(ev.name)
    return built
