"""The gateway stage that turns a prompt reference into messages, before validation.

Two spellings, combinable: a model name `prompt:NAME@label` (or `@3`, or no `@` for latest), and a body
field `prompt: {"name", "label" | "version", "variables"}`. The version's model and parameters are
defaults (what the caller sends wins); messages the caller sends are appended after the prompt's (a
conversation continuing from it). The name and version land in the call's span metadata, so the trace
shows which version produced each answer. Lookups come from the registry's memory cache.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidRequest
from shipyard.gateway.stages import Stage
from shipyard.prompts import template
from shipyard.prompts.registry import parse_ref
from shipyard.prompts.service import prompts_of

if TYPE_CHECKING:
    from shipyard.gateway.context import CallContext
    from shipyard.platform import Platform

PREFIX = "prompt:"


def parse_model_ref(model: str) -> tuple[str, str | None]:
    name, _, ref = model[len(PREFIX):].partition("@")
    return name, ref or None


class PromptStage(Stage):
    name = "prompts"

    def __init__(self, platform: Platform) -> None:
        self.registry = prompts_of(platform).registry

    async def prepare(self, ctx: CallContext) -> None:
        body = ctx.body
        if not isinstance(body, dict):
            return
        model = body.get("model")
        by_model = isinstance(model, str) and model.startswith(PREFIX)
        if "prompt" not in body and not by_model:
            return
        ref = body.pop("prompt", None) or {}
        if ctx.endpoint != "chat.completions":
            raise InvalidRequest("a prompt reference works with chat completions only", param="prompt")
        if not isinstance(ref, dict):
            raise InvalidRequest('\'prompt\' must be an object like {"name": ..., "label": ..., "variables": {...}}',
                                 param="prompt")
        name, version = ref.get("name"), ref.get("version", ref.get("label"))
        if by_model:
            name_in_model, version_in_model = parse_model_ref(model)  # type: ignore[arg-type]
            if name and name != name_in_model:
                raise InvalidRequest(f"the model names prompt '{name_in_model}' but 'prompt.name' is '{name}'",
                                     param="prompt.name")
            name, version = name_in_model, version_in_model or version
            del body["model"]
        if not isinstance(name, str) or not name:
            raise InvalidRequest("'prompt.name' is required", param="prompt.name", code="missing_required_parameter")
        project = ctx.principal.project_id
        found = self.registry.peek(project, name, version)
        if found is None:
            found = await asyncio.to_thread(self.registry.get, project, name, version, cached=True)
        rendered = template.render(found.spec, ref.get("variables"), f"prompt '{name}' v{found.version}")
        given = body.get("messages")
        if given is not None and not isinstance(given, list):
            raise InvalidRequest("'messages' must be a list", param="messages")
        body["messages"] = template.as_messages(rendered) + list(given or [])
        params: dict[str, Any] = found.spec.get("params") or {}
        for key, value in params.items():
            body.setdefault(key, value)
        if not body.get("model"):
            if not found.spec.get("model"):
                raise InvalidRequest(f"prompt '{name}' v{found.version} names no model; give one in 'model'",
                                     param="model", code="missing_required_parameter")
            body["model"] = found.spec["model"]
        label = parse_ref(version)
        ctx.extra["prompt"] = {"name": name, "version": found.version}
        if isinstance(label, str):
            ctx.extra["prompt"]["label"] = label


def prompt_stage(platform: Platform) -> Stage:
    return PromptStage(platform)
