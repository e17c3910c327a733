"""Assert on an evaluation in a project's own test suite.

    from shipyard.evals.pytest_plugin import assert_eval

    def test_answers_are_good():
        assert_eval([{"input": "2+2?", "expected": "4"}], my_app.answer, ["contains"], gates=["accuracy>=0.9"])

    def test_against_the_server(shipyard_eval):                 # the fixture: SHIPYARD_URL / SHIPYARD_API_KEY
        shipyard_eval("qa-golden", "my-fine-tune", ["exact_match"], gates=["accuracy>=0.8"], baseline="prod")

With a list of items and a Python callable, nothing is stored and no server is needed (heuristic and
custom evaluators; model-backed ones need `platform=`). With a dataset name and a target spec, the
experiment runs on the server through the SDK, and `baseline=` adds the paired significance check.
The plugin is registered under the `pytest11` entry point, so the fixture is available once Shipyard
is installed; or list `pytest_plugins = ["shipyard.evals.pytest_plugin"]` in a conftest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from shipyard.evals.compare import check_gates


class EvalGateFailed(AssertionError):
    def __init__(self, failures: list[str], result: dict[str, Any]) -> None:
        super().__init__("evaluation gate failed:\n  " + "\n  ".join(failures))
        self.failures = failures
        self.result = result


def _raise(verdict: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    if not verdict["passed"]:
        raise EvalGateFailed(verdict["failures"], result)
    return {**result, "gates": verdict}


async def assert_eval_async(data: Any, target: Any, evaluators: list[Any], gates: list[str] | None = None, *,
                            platform: Any = None, sdk: Any = None, baseline: str | None = None,
                            alpha: float = 0.05, timeout: float | None = 1800) -> dict[str, Any]:
    """As `assert_eval`, for `async def` tests."""
    gates = list(gates or [])
    if isinstance(data, str):
        if sdk is None:
            raise ValueError("a dataset name needs `sdk=` (a shipyard.client.Shipyard) to run on the server")
        exp = await asyncio.to_thread(sdk.evals.run, data, target, evaluators, timeout=timeout)
        verdict = await asyncio.to_thread(sdk.evals.gates, exp["id"], gates, baseline, alpha)
        return _raise(verdict, exp)
    from shipyard.evals import evaluate

    result = await evaluate(list(data), target, evaluators, platform=platform)
    return _raise(check_gates(result, result["results"], gates), result)


def assert_eval(data: Any, target: Any, evaluators: list[Any], gates: list[str] | None = None,
                **kwargs: Any) -> dict[str, Any]:
    """Evaluate and raise `EvalGateFailed` (an AssertionError) with every failed gate's reason."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(assert_eval_async(data, target, evaluators, gates, **kwargs))
    raise RuntimeError("assert_eval() was called inside an event loop; use `await assert_eval_async(...)`")


@pytest.fixture
def shipyard_eval() -> Any:
    """`shipyard_eval(dataset, target, evaluators, gates=..., baseline=...)` against the server at
    SHIPYARD_URL (default http://127.0.0.1:4000)."""
    from shipyard.client import Shipyard

    sdk = Shipyard()

    def run(data: Any, target: Any, evaluators: list[Any], gates: list[str] | None = None,
            **kwargs: Any) -> dict[str, Any]:
        return assert_eval(data, target, evaluators, gates, sdk=sdk, **kwargs)

    run_fn: Callable[..., dict[str, Any]] = run
    yield run_fn
    sdk.close()
