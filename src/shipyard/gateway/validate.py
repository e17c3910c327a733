"""Request validation for the hot path: plain checks, no model classes, errors that name the field."""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidRequest

_NUMBER = (int, float)
_CHAT_FIELDS: dict[str, tuple[type | tuple[type, ...], ...]] = {
    "temperature": (_NUMBER,),
    "top_p": (_NUMBER,),
    "max_tokens": (int,),
    "max_completion_tokens": (int,),
    "n": (int,),
    "seed": (int,),
    "presence_penalty": (_NUMBER,),
    "frequency_penalty": (_NUMBER,),
    "stream": (bool,),
    "stop": (str, list),
    "tools": (list,),
    "response_format": (dict,),
    "stream_options": (dict,),
    "user": (str,),
    "metadata": (dict,),
}
_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def _check_type(body: dict[str, Any], key: str, types: tuple[Any, ...]) -> None:
    value = body.get(key)
    if value is None:
        return
    flat: tuple[type, ...] = tuple(t for group in types for t in (group if isinstance(group, tuple) else (group,)))
    if isinstance(value, bool) and bool not in flat:
        ok = False
    else:
        ok = isinstance(value, flat)
    if not ok:
        names = " or ".join(sorted({t.__name__ for t in flat}))
        raise InvalidRequest(f"'{key}' must be of type {names}", param=key, code="invalid_type")


def require_model(body: Any) -> str:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("you must provide a model parameter", param="model", code="missing_required_parameter")
    return model


def validate_chat(body: Any) -> None:
    require_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("'messages' is a required list of messages", param="messages",
                             code="missing_required_parameter" if messages is None else "invalid_type")
    if not messages:
        raise InvalidRequest("'messages' must contain at least one message", param="messages", code="empty_array")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise InvalidRequest(f"messages[{i}] must be an object", param=f"messages[{i}]", code="invalid_type")
        role = msg.get("role")
        if role not in _ROLES:
            raise InvalidRequest(f"messages[{i}].role must be one of {', '.join(sorted(_ROLES))}",
                                 param=f"messages[{i}].role", code="invalid_value")
        content = msg.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise InvalidRequest(f"messages[{i}].content must be a string or a list of parts",
                                 param=f"messages[{i}].content", code="invalid_type")
        if content is None and role != "assistant":
            raise InvalidRequest(f"messages[{i}].content is required", param=f"messages[{i}].content",
                                 code="missing_required_parameter")
    for key, types in _CHAT_FIELDS.items():
        _check_type(body, key, types)
    for key, low, high in (("temperature", 0, 2), ("top_p", 0, 1), ("n", 1, 128)):
        value = body.get(key)
        if value is not None and not low <= value <= high:
            raise InvalidRequest(f"'{key}' must be between {low} and {high}", param=key, code="invalid_value")
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and value < 1:
            raise InvalidRequest(f"'{key}' must be at least 1", param=key, code="invalid_value")


def embedding_inputs(body: Any) -> list[str]:
    require_model(body)
    value = body.get("input")
    if isinstance(value, str):
        inputs = [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        inputs = value
    elif isinstance(value, list) and not value:
        raise InvalidRequest("'input' must not be empty", param="input", code="empty_array")
    elif value is None:
        raise InvalidRequest("'input' is required", param="input", code="missing_required_parameter")
    else:
        raise InvalidRequest("'input' must be a string or a list of strings", param="input", code="invalid_type")
    if any(not s for s in inputs):
        raise InvalidRequest("'input' must not contain empty strings", param="input", code="invalid_value")
    fmt = body.get("encoding_format")
    if fmt not in (None, "float", "base64"):
        raise InvalidRequest("'encoding_format' must be 'float' or 'base64'", param="encoding_format")
    return inputs
