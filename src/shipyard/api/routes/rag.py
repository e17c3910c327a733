"""/api/rag: retrieval-augmented answers with citations and a groundedness score."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from shipyard.auth import Principal, require
from shipyard.config import DEFAULT_CHAT_MODEL
from shipyard.vectors import rag

router = APIRouter(prefix="/api/rag", tags=["rag"])


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collection: str
    question: str
    model: str = DEFAULT_CHAT_MODEL
    top_k: int = Field(4, ge=1, le=50)
    mode: Literal["vector", "keyword", "hybrid"] = "hybrid"
    filters: dict[str, Any] | None = None
    max_tokens: int = Field(256, ge=1, le=32_768)
    temperature: float = Field(0.0, ge=0.0, le=2.0)


@router.post("/answer")
async def answer(body: Answer, request: Request, principal: Principal = Depends(require("collections:read")),
                 ) -> dict[str, Any]:
    # Reading a collection is what this checks; the model call itself goes through the gateway's own
    # checks (budgets, guardrails) with the same principal.
    return await rag.answer(request.app.state.platform, collection=body.collection, question=body.question,
                            model=body.model, top_k=body.top_k, mode=body.mode, filters=body.filters,
                            max_tokens=body.max_tokens, temperature=body.temperature, principal=principal)
