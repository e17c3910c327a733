"""Fine-tuned models in the gateway: each `fine_tuned_models` row becomes a public model name served by
the local llama.cpp provider with the base GGUF and the converted adapter (`params.lora_path`).

A worker may run on another machine, so a server learns of new rows by syncing from the store at
start and every `finetune_model_sync_interval` seconds (never on the request path); a worker inside the
server registers its model at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select

from shipyard.config import ModelSpec
from shipyard.finetune.tables import FineTunedModel
from shipyard.providers.base import provider_class

log = logging.getLogger(__name__)
SERVICE = "finetune.served"  # platform.services key: the names this module put in the registry


def model_spec(platform: Any, row: FineTunedModel) -> ModelSpec:
    """The base model's own settings (n_ctx, threads, ...) plus the adapter."""
    spec = dict(row.spec)
    base = platform.registry.providers.get(row.base_model)
    base_params = dict(base.spec.params) if base is not None and base.kind == "local" else {}
    spec["params"] = {**base_params, **spec.get("params", {})}
    return ModelSpec(**spec)


def register(platform: Any, row: FineTunedModel) -> None:
    served: set[str] = platform.service(SERVICE, lambda _p: set())
    if row.name in platform.registry.providers:
        return
    spec = model_spec(platform, row)
    platform.registry.providers[row.name] = provider_class(spec.provider)(spec, platform.settings)
    served.add(row.name)


async def unregister(platform: Any, name: str) -> None:
    served: set[str] = platform.service(SERVICE, lambda _p: set())
    provider = platform.registry.providers.pop(name, None) if name in served else None
    served.discard(name)
    if provider is not None:
        await provider.aclose()


def _active_rows(platform: Any) -> list[FineTunedModel]:
    with platform.store.session() as session:
        return list(session.scalars(select(FineTunedModel).where(FineTunedModel.active.is_(True))))


async def sync(platform: Any) -> None:
    rows = await asyncio.to_thread(_active_rows, platform)
    for row in rows:
        try:
            register(platform, row)
        except Exception:
            log.exception("cannot serve fine-tuned model %s", row.name)
    active = {r.name for r in rows}
    for name in list(platform.service(SERVICE, lambda _p: set())):
        if name not in active:
            await unregister(platform, name)


async def sync_forever(platform: Any) -> None:
    while True:
        await asyncio.sleep(platform.settings.finetune_model_sync_interval)
        try:
            await sync(platform)
        except Exception:
            log.exception("fine-tuned model sync failed")
