"""Drift on real embeddings (bundled all-MiniLM-L6-v2): the same traffic raises nothing, shifted traffic
raises an alert that is stored, listed and POSTed to the webhook."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.config import Settings
from shipyard.errors import InvalidRequest
from shipyard.observe import drift
from shipyard.platform import Platform
from tests.observe.factory import span_row, write
from tests.observe.receivers import Receiver

NOW = datetime.now(UTC)
COOKING = ["How long should I boil {} for a {} dinner?", "What spice goes well with {} in a {} stew?",
           "Can I bake {} at a lower temperature for a {} cake?", "Best way to roast {} for a {} lunch?"]
COOK_WORDS = (["potatoes", "carrots", "chicken", "rice", "salmon", "lentils", "onions", "pasta"],
              ["family", "quick", "festive", "weeknight", "summer", "cosy"])
LEGAL = ["Is it legal to break a {} contract after a {} notice?",
         "Can my landlord keep a {} deposit after a {} dispute?",
         "How do I appeal a {} fine issued during a {} inspection?",
         "What are my rights in a {} lawsuit over a {} claim?"]
LEGAL_WORDS = (["rental", "employment", "parking", "insurance", "loan", "tax"],
               ["verbal", "written", "late", "formal", "municipal", "disputed"])


def prompts(templates: list[str], words: tuple[list[str], list[str]], n: int, rng: random.Random) -> list[str]:
    return [rng.choice(templates).format(rng.choice(words[0]), rng.choice(words[1])) for _ in range(n)]


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    hook = Receiver()
    p = Platform.build(Settings(data_dir=tmp_path, drift_webhook_url=hook.url + "/hook"))
    await p.start()
    p.hook = hook  # type: ignore[attr-defined]
    yield p
    await p.stop()
    hook.close()


def fill(platform: Platform, model: str, reference: list[str], current: list[str]) -> None:
    rows = [span_row(model=model, prompt=t, answer="Here is how: " + t.lower(),
                     start=NOW - timedelta(hours=30, minutes=i)) for i, t in enumerate(reference)]
    rows += [span_row(model=model, prompt=t, answer="Here is how: " + t.lower(),
                      start=NOW - timedelta(hours=2, minutes=i)) for i, t in enumerate(current)]
    write(platform.store, rows)


@pytest.mark.slow
async def test_same_traffic_no_alert_shifted_traffic_alerts(platform: Platform) -> None:
    rng = random.Random(7)
    fill(platform, "steady", prompts(COOKING, COOK_WORDS, 60, rng), prompts(COOKING, COOK_WORDS, 60, rng))
    fill(platform, "shifting", prompts(COOKING, COOK_WORDS, 60, rng), prompts(LEGAL, LEGAL_WORDS, 60, rng))
    options = drift.Options(sample=60, permutations=300)
    same = await drift.check(platform, "default", "steady", options=options, now=NOW)
    assert same["alert"] is False and same["p_value"] > 0.05 and same["n_current"] == 60
    shifted = await drift.check(platform, "default", "shifting", options=options, now=NOW)
    assert shifted["alert"] is True and shifted["p_value"] < 0.01
    assert shifted["score"] > 0.05 > same["score"]
    assert "prompt" in shifted["alert_message"] and shifted["webhook_status"] == "sent 200"
    [(path, _headers, _body)] = platform.hook.requests  # type: ignore[attr-defined]
    payload = platform.hook.json_bodies()[0]  # type: ignore[attr-defined]
    assert path == "/hook" and payload["type"] == "drift.alert" and payload["model"] == "shifting"
    assert [r["model"] for r in drift.list_runs(platform, "default")] == ["shifting", "steady"]  # history
    assert [a["model"] for a in drift.list_alerts(platform, "default")] == ["shifting"]


async def test_error_rate_jump_alerts_and_too_little_traffic_is_a_clear_error(platform: Platform) -> None:
    rows = [span_row(model="flaky", prompt="same question", start=NOW - timedelta(hours=30, minutes=i))
            for i in range(40)]
    rows += [span_row(model="flaky", prompt="same question", start=NOW - timedelta(hours=1, minutes=i),
                      status="error" if i % 2 else "ok") for i in range(80)]
    write(platform.store, rows)
    run = await drift.check(platform, "default", "flaky", options=drift.Options(permutations=50), now=NOW)
    assert run["alert"] and run["metrics"]["error_rate"]["current"] == 0.5
    assert any("error rate" in r for r in run["metrics"]["reasons"])
    with pytest.raises(InvalidRequest, match="at least 20"):
        await drift.check(platform, "default", "nobody-uses-this", now=NOW)
