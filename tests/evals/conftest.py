"""Evaluation fixtures: an in-process platform and a real server, both with the eval stand-ins of the
fake hosted upstream (an echo model, a slow echo, a rule-following judge, a judge that never gives a
verdict) next to the bundled local models."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shipyard.config import Settings
from shipyard.platform import Platform
from tests.conftest import hosted_models
from tests.helpers import FakeUpstream, ShipyardServer


def eval_models(upstream_url: str) -> list[dict[str, object]]:
    base = upstream_url + "/v1"
    return [*hosted_models(upstream_url),
            {"name": "echo", "provider": "openai", "model": "eval-echo", "base_url": base},
            {"name": "slow-echo", "provider": "openai", "model": "eval-slow-echo", "base_url": base},
            {"name": "judge", "provider": "openai", "model": "judge-verdict", "base_url": base},
            {"name": "judge-garbage", "provider": "openai", "model": "judge-garbage", "base_url": base}]


@pytest.fixture
async def platform(tmp_path: Path, upstream: FakeUpstream) -> AsyncIterator[Platform]:
    settings = Settings(data_dir=tmp_path, include_bundled_models=False, models=eval_models(upstream.url),
                        evals_online_interval=0)
    p = Platform.build(settings)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture(scope="session")
def eval_server(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[ShipyardServer]:
    srv = ShipyardServer(tmp_path_factory.mktemp("evals"), {"models": eval_models(upstream.url),
                                                            "evals_online_interval": 0})
    yield srv
    srv.stop()
