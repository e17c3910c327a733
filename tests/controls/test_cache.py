"""The response cache: exact and semantic hits, streams served from cache, bypass, and the record."""

from __future__ import annotations

import time
import uuid

import httpx
import openai

from tests.controls.conftest import ADMIN, admin, chat
from tests.fake_upstream import REPLY
from tests.helpers import ShipyardServer


def _records(url: str, request_ids: list[str]) -> dict[str, dict]:
    time.sleep(0.6)
    rows = httpx.get(url + "/api/requests?limit=200", headers=admin()).json()["data"]
    return {r["id"]: r for r in rows if r["id"] in request_ids}


def test_exact_hit_miss_and_record(controlled: ShipyardServer) -> None:
    prompt = f"cache me {uuid.uuid4().hex}"
    miss = chat(controlled.url, ADMIN, content=prompt, temperature=0)
    hit = chat(controlled.url, ADMIN, content=prompt, temperature=0, user="someone-else")  # user does not count
    other = chat(controlled.url, ADMIN, content=prompt, temperature=0.5)  # a parameter that changes output
    assert (miss.headers["x-shipyard-cache"], hit.headers["x-shipyard-cache"]) == ("miss", "hit")
    assert other.headers["x-shipyard-cache"] == "miss"
    assert hit.json()["choices"] == miss.json()["choices"]
    rows = _records(controlled.url, [miss.headers["x-request-id"], hit.headers["x-request-id"]])
    assert rows[hit.headers["x-request-id"]]["metadata"]["cache"] == "hit"
    assert rows[hit.headers["x-request-id"]]["provider"] == "cache"
    assert rows[hit.headers["x-request-id"]]["cost"] == 0
    assert rows[miss.headers["x-request-id"]]["metadata"]["cache"] == "miss"


def test_stream_served_from_cache_and_stream_fills_cache(controlled: ShipyardServer) -> None:
    client = openai.OpenAI(base_url=controlled.url + "/v1", api_key=ADMIN, max_retries=0)
    prompt = f"stream me {uuid.uuid4().hex}"
    messages = [{"role": "user", "content": prompt}]
    first = client.chat.completions.with_raw_response.create(model="a", messages=messages, stream=True)
    assert first.headers["x-shipyard-cache"] == "miss"
    assert "".join(c.choices[0].delta.content or "" for c in first.parse() if c.choices) == REPLY
    time.sleep(0.2)
    again = client.chat.completions.with_raw_response.create(model="a", messages=messages, stream=True,
                                                             stream_options={"include_usage": True})
    assert again.headers["x-shipyard-cache"] == "hit"
    chunks = list(again.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    plain = client.chat.completions.with_raw_response.create(model="a", messages=messages)  # a stream filled it
    assert plain.headers["x-shipyard-cache"] == "hit" and plain.parse().choices[0].message.content == REPLY


def test_bypass_by_header_and_body_flag(controlled: ShipyardServer) -> None:
    prompt = f"bypass {uuid.uuid4().hex}"
    assert chat(controlled.url, ADMIN, content=prompt).headers["x-shipyard-cache"] == "miss"
    by_header = chat(controlled.url, ADMIN, content=prompt, headers={"Cache-Control": "no-cache"})
    assert by_header.headers["x-shipyard-cache"] == "bypass"
    by_flag = chat(controlled.url, ADMIN, content=prompt, cache=False)
    assert by_flag.status_code == 200 and by_flag.headers["x-shipyard-cache"] == "bypass"
    assert chat(controlled.url, ADMIN, content=prompt, cache={"ttl": 60}).headers["x-shipyard-cache"] == "hit"
    bad = chat(controlled.url, ADMIN, content=prompt, cache="sometimes")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "cache"


def test_ttl_expires_entries(controlled: ShipyardServer) -> None:
    prompt = f"short ttl {uuid.uuid4().hex}"
    assert chat(controlled.url, ADMIN, content=prompt, cache={"ttl": 0.5}).headers["x-shipyard-cache"] == "miss"
    assert chat(controlled.url, ADMIN, content=prompt).headers["x-shipyard-cache"] == "hit"
    time.sleep(0.7)
    assert chat(controlled.url, ADMIN, content=prompt).headers["x-shipyard-cache"] == "miss"


def test_semantic_hit_on_a_similar_prompt(controlled: ShipyardServer) -> None:
    """Model "a" opts in to the semantic cache; the real local embedding model decides what is similar."""
    tag = uuid.uuid4().hex[:6]
    first = chat(controlled.url, ADMIN, content=f"What is the capital city of France? ({tag})")
    assert first.headers["x-shipyard-cache"] == "miss"
    similar = chat(controlled.url, ADMIN, content=f"what is the capital city of france ({tag})")
    assert similar.headers["x-shipyard-cache"] == "semantic", similar.headers
    assert float(similar.headers["x-shipyard-cache-similarity"]) >= 0.9
    different = chat(controlled.url, ADMIN, content=f"How do I bake sourdough bread? ({tag})")
    assert different.headers["x-shipyard-cache"] == "miss"
    # model "b" did not opt in: the same similar prompt is a miss there
    assert chat(controlled.url, ADMIN, "b", content=f"What is the capital city of France? ({tag})").headers[
        "x-shipyard-cache"] == "miss"
    assert chat(controlled.url, ADMIN, "b", content=f"what is the capital city of france ({tag})").headers[
        "x-shipyard-cache"] == "miss"


def test_cache_survives_a_restart(tmp_path) -> None:
    from tests.helpers import FakeUpstream

    upstream = FakeUpstream()
    config = {"include_bundled_models": False, "cache_enabled": True,
              "models": [{"name": "a", "provider": "openai", "model": "m", "base_url": upstream.url + "/v1"}]}
    prompt = f"persist {uuid.uuid4().hex}"
    try:
        srv = ShipyardServer(tmp_path / "c", config)
        assert chat(srv.url, None, content=prompt).headers["x-shipyard-cache"] == "miss"
        time.sleep(0.3)
        srv.stop()
        srv = ShipyardServer(tmp_path / "c", config)
        assert chat(srv.url, None, content=prompt).headers["x-shipyard-cache"] == "hit"
        srv.stop()
    finally:
        upstream.stop()


def test_redis_cache_is_shared_by_replicas(tmp_path, redis_prefix: str) -> None:
    from tests.helpers import FakeUpstream

    upstream = FakeUpstream()
    config = {"include_bundled_models": False, "cache_enabled": True,
              "models": [{"name": "a", "provider": "openai", "model": "m", "base_url": upstream.url + "/v1"}]}
    env = {"SHIPYARD_REDIS_URL": "redis://127.0.0.1:6379/0", "SHIPYARD_REDIS_PREFIX": redis_prefix}
    one = ShipyardServer(tmp_path / "one", config, env=env)
    two = ShipyardServer(tmp_path / "two", config, env=env)
    try:
        prompt = f"shared {uuid.uuid4().hex}"
        assert chat(one.url, None, content=prompt).headers["x-shipyard-cache"] == "miss"
        hit = chat(two.url, None, content=prompt, stream=True)
        assert hit.headers["x-shipyard-cache"] == "hit" and "Hello" in hit.text
    finally:
        one.stop()
        two.stop()
        upstream.stop()
