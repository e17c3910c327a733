"""The gateway: one OpenAI-compatible pipeline in front of every provider. Knows nothing of HTTP."""

from shipyard.gateway.context import CallContext
from shipyard.gateway.core import Gateway
from shipyard.gateway.registry import ModelRegistry
from shipyard.gateway.stages import Stage

__all__ = ["CallContext", "Gateway", "ModelRegistry", "Stage"]
