"""Public model names to providers."""

from __future__ import annotations

from typing import Any

from shipyard.config import Settings
from shipyard.errors import ModelNotFound
from shipyard.providers.base import Provider, provider_class


class ModelRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.providers: dict[str, Provider] = {}
        for spec in settings.model_specs:
            self.providers[spec.name] = provider_class(spec.provider)(spec, settings)

    def resolve(self, name: Any) -> Provider:
        provider = self.providers.get(name) if isinstance(name, str) else None
        if provider is None:
            raise ModelNotFound(f"The model '{name}' does not exist or you do not have access to it.",
                                param="model")
        return provider

    def list(self) -> list[dict[str, Any]]:
        return [p.describe() for p in self.providers.values()]

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
