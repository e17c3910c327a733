"""Every error the server sends is OpenAI-style JSON; this module is the only place that shapes it."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from shipyard.errors import InvalidRequest, NotFound, ShipyardError

log = logging.getLogger(__name__)


def error_response(exc: ShipyardError) -> Response:
    return Response(exc.json_bytes(), status_code=exc.status, media_type="application/json",
                    headers=exc.headers or None)


async def _shipyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShipyardError)
    if exc.status == 401 and request.url.path.startswith("/ui") and not request.url.path.startswith("/ui/login"):
        # A person in a browser: send them to the login page rather than show JSON.
        return RedirectResponse(f"/ui/login?next={quote(request.url.path)}", status_code=303)
    return error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(loc) or None
    message = f"{param}: {first.get('msg')}" if param else str(first.get("msg", "invalid request"))
    return error_response(InvalidRequest(message, param=param, code="invalid_value"))


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        err: ShipyardError = NotFound(str(exc.detail) if exc.detail != "Not Found" else "no such route")
    else:
        err = ShipyardError(str(exc.detail))
        err.status = exc.status_code
        err.type = "invalid_request_error" if exc.status_code < 500 else "server_error"
    return error_response(err)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(ShipyardError("internal error; the server logged the details"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ShipyardError, _shipyard_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
