"""The Python SDK for Shipyard's own API (`/api/*`).

Model calls go through the official `openai` package pointed at `/v1` (see `Shipyard.openai()`); this
client covers everything else. Capabilities add a resource by adding a module to this package that
decorates a class with `@resource("name")`; it then appears as `client.name`.
"""

from shipyard.client.base import Shipyard, resource

__all__ = ["Shipyard", "resource"]
