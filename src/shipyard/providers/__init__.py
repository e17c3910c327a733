"""Providers: one interface (`Provider`) for every model backend, found through entry points."""

from shipyard.providers.base import Provider, provider_class

__all__ = ["Provider", "provider_class"]
