"""HTTP: thin shells over the capabilities. `create_app` assembles the whole server."""

from shipyard.api.app import create_app

__all__ = ["create_app"]
