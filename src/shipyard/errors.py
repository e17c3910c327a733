"""One error hierarchy, mapped to OpenAI-style error JSON in one place (`ShipyardError.body`).

Capabilities raise these and know nothing of HTTP beyond the status each class carries; the API and
the gateway turn them into `{"error": {"message", "type", "param", "code"}}`, the CLI into one line.
"""

from __future__ import annotations

from typing import Any

import orjson


class ShipyardError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        error.update(self.extra)
        return {"error": error}

    def json_bytes(self) -> bytes:
        return orjson.dumps(self.body())


class InvalidRequest(ShipyardError):
    status = 400
    type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class ContentBlocked(InvalidRequest):
    """A guardrail scanner refused the input or the answer; `extra` names the scanner and the reason."""

    code = "content_blocked"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "payload_too_large"


class AuthenticationError(ShipyardError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(ShipyardError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(ShipyardError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class Conflict(ShipyardError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class RateLimited(ShipyardError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class Overloaded(ShipyardError):
    """The local generation queue is full: come back later rather than wait forever."""

    status = 503
    type = "server_error"
    code = "overloaded"


class UpstreamError(ShipyardError):
    status = 502
    type = "upstream_error"
    code = "bad_gateway"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


def upstream_status_error(status: int, message: str) -> ShipyardError:
    """Carry an upstream 4xx through as the same kind of error; anything else is a bad gateway."""
    by_status: dict[int, type[ShipyardError]] = {
        400: InvalidRequest,
        401: UpstreamError,  # our credentials for the upstream are wrong: the caller cannot fix that
        403: UpstreamError,
        404: ModelNotFound,
        413: PayloadTooLarge,
        429: RateLimited,
    }
    cls = by_status.get(status, UpstreamError)
    err = cls(f"upstream answered {status}: {message}")
    err.extra["upstream_status"] = status
    return err
