"""The gateway on the bundled local models, driven by the official `openai` package over real HTTP."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import openai
import pytest

from tests.helpers import ShipyardServer


@pytest.fixture(scope="module")
def client(server: ShipyardServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def test_model_list_has_bundled_and_configured_models(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"smollm2", "all-minilm-l6-v2", "gpt-fake", "claude-fake"} <= ids
    assert client.models.retrieve("smollm2").owned_by == "local"


def test_chat_on_local_model(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "What is the capital of France?"}], max_tokens=24
    )
    assert reply.model == "smollm2"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content.strip()
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 5
    assert 0 < reply.usage.completion_tokens <= 24


def test_seed_makes_sampling_repeatable(client: openai.OpenAI) -> None:
    def ask() -> str:
        return client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "Tell me a word."}], max_tokens=12,
            temperature=1.0, seed=1234,
        ).choices[0].message.content

    assert ask() == ask()


def test_stream_on_local_model_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Count from one to five."}], max_tokens=24,
        stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_stream_without_usage_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Hi"}], max_tokens=8, stream=True))
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_embeddings_are_real_and_normalized(client: openai.OpenAI) -> None:
    texts = ["A cat sat on the mat.", "A kitten rests on a rug.", "Quarterly car insurance premiums rose."]
    reply = client.embeddings.create(model="all-minilm-l6-v2", input=texts)  # the client asks for base64
    vectors = np.array([d.embedding for d in reply.data])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert reply.usage.prompt_tokens > 10
    single = client.embeddings.create(model="all-minilm-l6-v2", input="hello", encoding_format="float")
    assert len(single.data) == 1 and len(single.data[0].embedding) == 384


def test_slow_generation_does_not_stall_other_requests(server: ShipyardServer, client: openai.OpenAI) -> None:
    done = threading.Event()

    def long_generation() -> None:
        client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Write a story."}],
                                       max_tokens=200, temperature=0)
        done.set()

    worker = threading.Thread(target=long_generation)
    worker.start()
    time.sleep(0.5)  # the generation is now running on its thread
    started = time.perf_counter()
    assert httpx.get(server.url + "/health").status_code == 200
    assert client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "hi"}])
    elapsed = time.perf_counter() - started
    assert not done.is_set(), "the local generation finished too early to prove anything"
    assert elapsed < 0.5
    worker.join(60)


def test_concurrent_local_requests_queue_and_all_succeed(client: openai.OpenAI) -> None:
    results: list[str] = []

    def ask(i: int) -> None:
        r = client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": f"Say {i}"}],
                                           max_tokens=6)
        results.append(r.choices[0].finish_reason)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 4
