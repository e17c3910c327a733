"""Retrieval-augmented answers: retrieve, fit the context into the model's window, answer with numbered
citations, and score how grounded the answer is in what was retrieved.

`answer()` is usable directly as a chain step. It runs as a `chain` span holding the `retrieval` span
of the search and the `generation` span of the model call; the groundedness score goes in the span's
metadata, where dashboards and evaluations read it as a hallucination signal.

Groundedness = share of the answer's sentences supported by the retrieved text, where a sentence is
supported when its embedding is close to a retrieved chunk (cosine >= SUPPORT_SIMILARITY) or most of its
content words appear in the context (overlap >= SUPPORT_OVERLAP). Cheap, model-free, and monotone in
what matters: an answer that invents facts not in the context scores low.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.auth import LOCAL_ADMIN, Principal
from shipyard.config import DEFAULT_CHAT_MODEL
from shipyard.errors import InvalidRequest
from shipyard.observe.tracing import span
from shipyard.vectors import get_service

if TYPE_CHECKING:
    from shipyard.platform import Platform
    from shipyard.vectors.search import Hit

SUPPORT_SIMILARITY = 0.6
SUPPORT_OVERLAP = 0.7
CHARS_PER_TOKEN = 3.5  # conservative for English with BPE tokenizers: leaves headroom in the window
SYSTEM = ("Answer the question using only the numbered sources below. After each claim, cite the source it "
          "comes from in square brackets, like [1]. If the sources do not contain the answer, say that you "
          "do not know.")
_CITE = re.compile(r"\[(\d{1,3})\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("the a an and or of to in on for with is are was were be been it this that as at by from "
                  "which who what when where how not no do does did can could would should will may might "
                  "has have had its their there they them these those you your we our i he she his her".split())


def context_window(platform: Platform, model: str) -> int:
    provider = platform.registry.resolve(model)
    params = provider.spec.params
    window = params.get("context_window") or params.get("n_ctx")
    return int(window) if window else (2048 if provider.kind == "local" else 8192)


def build_context(hits: list[Hit], budget_chars: int) -> list[Hit]:
    """The best hits that fit, in rank order; the first is cut to fit rather than dropped."""
    chosen: list[Hit] = []
    used = 0
    for hit in hits:
        cost = len(hit.text) + 8
        if used + cost > budget_chars:
            if not chosen and budget_chars > 200:
                from dataclasses import replace

                chosen.append(replace(hit, text=hit.text[: budget_chars - 8]))
            continue
        chosen.append(hit)
        used += cost
    return chosen


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def sentences(answer: str) -> list[str]:
    parts = [_CITE.sub("", p).strip() for p in _SENTENCE.split(answer)]
    return [p for p in parts if len(_content_words(p)) >= 1]


async def groundedness(platform: Platform, collection: str, answer: str, context: list[Hit],
                       project_id: str) -> tuple[float, list[dict[str, Any]]]:
    """(score in [0, 1], per-sentence support) of an answer against its context chunks."""
    claims = sentences(answer)
    if not claims or not context:
        return 0.0, [{"text": c, "supported": False, "chunk_id": None, "similarity": None, "overlap": 0.0}
                     for c in claims]
    svc = get_service(platform)
    col = svc.collection(collection, project_id)
    sims = None
    if col.model is not None:
        vectors = await svc.embed(col, claims + [h.text for h in context])
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        sims = unit[: len(claims)] @ unit[len(claims):].T
    context_words = _content_words(" ".join(h.text for h in context))
    chunk_words = [_content_words(h.text) for h in context]
    out = []
    for i, claim in enumerate(claims):
        words = _content_words(claim)
        overlap = len(words & context_words) / len(words) if words else 0.0
        if sims is not None:
            best = int(np.argmax(sims[i]))
            similarity: float | None = float(sims[i, best])
        else:
            best = int(np.argmax([len(words & cw) for cw in chunk_words]))
            similarity = None
        supported = (similarity is not None and similarity >= SUPPORT_SIMILARITY) or overlap >= SUPPORT_OVERLAP
        out.append({"text": claim, "supported": bool(supported), "chunk_id": context[best].id,
                    "similarity": None if similarity is None else round(similarity, 4), "overlap": round(overlap, 4)})
    score = sum(s["supported"] for s in out) / len(out)
    return round(score, 4), out


async def answer(platform: Platform, *, collection: str, question: str, model: str = DEFAULT_CHAT_MODEL,
                 top_k: int = 4, mode: str = "hybrid", filters: dict[str, Any] | None = None,
                 max_tokens: int = 256, temperature: float = 0.0, principal: Principal = LOCAL_ADMIN,
                 ) -> dict[str, Any]:
    """Answer a question from a collection, with citations to the chunks used and a groundedness score."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidRequest("question must be a non-empty string", param="question")
    if not 1 <= max_tokens <= 32_768:
        raise InvalidRequest("max_tokens must be between 1 and 32768", param="max_tokens")
    project_id = principal.project_id
    window = context_window(platform, model)
    svc = get_service(platform)
    async with span("chain", "rag answer", input=question, project_id=project_id,
                    metadata={"collection": collection, "model": model, "top_k": top_k}) as s:
        hits = await svc.search(collection, question, top_k=top_k, mode=mode, filters=filters, project_id=project_id)
        overhead = len(SYSTEM) + len(question) + 64
        budget = int((window - max_tokens) * CHARS_PER_TOKEN) - overhead
        if budget < 200:
            raise InvalidRequest(f"model '{model}' has a {window}-token window: too small for max_tokens={max_tokens} "
                                 "plus any context", param="max_tokens", code="context_length_exceeded")
        context = build_context(hits, budget)
        sources = "\n\n".join(f"[{i}] {h.text}" for i, h in enumerate(context, 1))
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"Sources:\n{sources or '(none found)'}\n\nQuestion: {question}"}]
        body = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature}
        completion = await platform.gateway.complete(body, principal)
        text = (completion["choices"][0]["message"].get("content") or "").strip()
        score, support = await groundedness(platform, collection, text, context, project_id)
        explicit = sorted({int(n) for n in _CITE.findall(text) if 1 <= int(n) <= len(context)})
        if explicit:
            cited = [(n, True) for n in explicit]
        else:  # no markers (small models often omit them): cite the chunks that support the sentences
            ids = [c["chunk_id"] for c in support if c["supported"]]
            cited = [(i, False) for i, h in enumerate(context, 1) if h.id in ids]
        citations = [{"index": n, "id": context[n - 1].id, "text": context[n - 1].text[:500],
                      "score": round(context[n - 1].score, 6), "metadata": context[n - 1].metadata,
                      "explicit": explicit_mark} for n, explicit_mark in cited]
        s.update(output=text, metadata={"groundedness": score, "citations": [c["id"] for c in citations],
                                        "context_chunks": len(context), "retrieved": len(hits)})
        return {"object": "rag.answer", "answer": text, "model": model, "collection": collection,
                "citations": citations, "groundedness": score, "sentences": support,
                "context": [{"index": i, "id": h.id, "score": round(h.score, 6)} for i, h in enumerate(context, 1)],
                "usage": completion.get("usage"), "trace_id": s.trace_id}
