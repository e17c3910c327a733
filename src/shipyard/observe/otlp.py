"""OpenTelemetry both ways: OTLP/HTTP spans in (protobuf or JSON), OTLP/HTTP spans out.

In: any OpenTelemetry SDK or collector can export to `POST /v1/traces`. Spans are read with the
GenAI semantic conventions (`gen_ai.operation.name` picks the span kind; `gen_ai.request.model`,
`gen_ai.usage.*`, `gen_ai.input.messages` / `gen_ai.prompt`, `gen_ai.output.messages` /
`gen_ai.completion`, also the indexed `gen_ai.prompt.N.*` form and the content events) plus
OpenInference's `openinference.span.kind`, `input.value`, `output.value`. Attributes left over
become the span's metadata.

Out: with `otlp_endpoint` set, every span the batched writer stores is also sent to that collector,
from a background thread fed by the writer's listener hook: off the request path, bounded, and
dropping (with a count) rather than blocking when the collector is slow or down.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import queue
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from shipyard.errors import InvalidRequest

log = logging.getLogger(__name__)

OPERATION_KINDS = {
    "chat": "generation", "text_completion": "generation", "generate_content": "generation",
    "completion": "generation", "embeddings": "embedding", "embedding": "embedding", "execute_tool": "tool",
    "invoke_agent": "chain", "create_agent": "chain", "workflow": "chain", "retrieval": "retrieval",
    "guardrail": "guard", "evaluation": "evaluator",
}
OPENINFERENCE_KINDS = {"LLM": "generation", "EMBEDDING": "embedding", "RETRIEVER": "retrieval", "TOOL": "tool",
                       "CHAIN": "chain", "AGENT": "chain", "GUARDRAIL": "guard", "EVALUATOR": "evaluator",
                       "RERANKER": "retrieval"}
KIND_OPERATIONS = {"generation": "chat", "embedding": "embeddings", "tool": "execute_tool", "chain": "invoke_agent",
                   "retrieval": "retrieval", "guard": "guardrail", "evaluator": "evaluation"}


# -- in ------------------------------------------------------------------------------------------------
def _value(v: Any) -> Any:
    """An OTLP JSON AnyValue to a plain value."""
    if not isinstance(v, dict):
        return v
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    if "arrayValue" in v:
        return [_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return _attrs((v["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def _attrs(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {kv["key"]: _value(kv.get("value")) for kv in items if isinstance(kv, dict) and "key" in kv}


def _hex_id(value: Any, size: int, field: str, *, from_base64: bool) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be a string", param=field)
    if from_base64:
        try:
            value = base64.b64decode(value).hex()
        except ValueError:
            raise InvalidRequest(f"{field} is not valid base64", param=field) from None
    value = value.lower()
    if len(value) != size * 2 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidRequest(f"{field} must be {size * 2} hex characters", param=field)
    if value == "0" * (size * 2):
        return None
    return value


def _nanos(value: Any) -> datetime | None:
    if value in (None, "", 0, "0"):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1e9, UTC)
    except (TypeError, ValueError, OverflowError):
        raise InvalidRequest("span times must be Unix nanoseconds", param="startTimeUnixNano") from None


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _indexed_messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]] | None:
    """`gen_ai.prompt.0.role`, `gen_ai.prompt.0.content`, ... into a list of messages."""
    found: dict[int, dict[str, Any]] = {}
    for key in [k for k in attrs if k.startswith(prefix + ".")]:
        index, _, field = key[len(prefix) + 1:].partition(".")
        if index.isdigit() and field:
            found.setdefault(int(index), {})[field] = attrs.pop(key)
    return [found[i] for i in sorted(found)] or None


def _content(attrs: dict[str, Any], events: list[dict[str, Any]], side: str) -> Any:
    keys = (("gen_ai.input.messages", "gen_ai.prompt", "input.value", "shipyard.input") if side == "input"
            else ("gen_ai.output.messages", "gen_ai.completion", "output.value", "shipyard.output"))
    for key in keys:
        if key in attrs:
            value = _maybe_json(attrs.pop(key))
            for other in keys:
                attrs.pop(other, None)
            return value
    indexed = _indexed_messages(attrs, "gen_ai.prompt" if side == "input" else "gen_ai.completion")
    if indexed:
        return indexed
    # Content events: gen_ai.content.prompt / .completion (attribute gen_ai.prompt / gen_ai.completion),
    # or one event per message (gen_ai.user.message, gen_ai.system.message, gen_ai.choice).
    messages = []
    for event in events:
        name = event.get("name", "")
        ev = _attrs(event.get("attributes"))
        if side == "input" and name == "gen_ai.content.prompt" and "gen_ai.prompt" in ev:
            return _maybe_json(ev["gen_ai.prompt"])
        if side == "output" and name == "gen_ai.content.completion" and "gen_ai.completion" in ev:
            return _maybe_json(ev["gen_ai.completion"])
        if side == "input" and name.endswith(".message") and name.startswith("gen_ai."):
            messages.append({"role": name[len("gen_ai."):-len(".message")],
                             "content": _maybe_json(ev.get("content", ev.get("gen_ai.event.content")))})
        if side == "output" and name == "gen_ai.choice":
            body = _maybe_json(ev.get("message", ev.get("gen_ai.event.content")))
            messages.append(body if body is not None else ev)
    return messages or None


def _int(attrs: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        if key in attrs:
            try:
                return int(attrs.pop(key))
            except (TypeError, ValueError):
                return None
    return None


def otlp_span_to_shipyard(span: dict[str, Any], resource: dict[str, Any], scope: str | None, *,
                          base64_ids: bool) -> dict[str, Any]:
    """One OTLP span (JSON form) to the span dict `ingest.normalize` takes."""
    attrs = _attrs(span.get("attributes"))
    events = span.get("events") or []
    declared = attrs.pop("shipyard.span.kind", None)
    openinference = attrs.pop("openinference.span.kind", None)
    operation = attrs.pop("gen_ai.operation.name", None)
    if declared:
        kind = declared
    elif openinference:
        kind = OPENINFERENCE_KINDS.get(str(openinference).upper(), "span")
    elif operation:
        kind = OPERATION_KINDS.get(str(operation), "span")
    else:
        kind = "generation" if "gen_ai.request.model" in attrs else "span"
    status = span.get("status") or {}
    code = status.get("code")
    failed = code in (2, "2", "STATUS_CODE_ERROR")
    start = _nanos(span.get("startTimeUnixNano"))
    end = _nanos(span.get("endTimeUnixNano"))
    model = attrs.pop("gen_ai.response.model", None) or attrs.get("gen_ai.request.model")
    attrs.pop("gen_ai.request.model", None)
    ttft = attrs.pop("shipyard.ttft_ms", None)
    if ttft is None and "gen_ai.server.time_to_first_token" in attrs:
        ttft = float(attrs.pop("gen_ai.server.time_to_first_token")) * 1000.0
    out = {
        "id": _hex_id(span.get("spanId"), 8, "spanId", from_base64=base64_ids),
        "trace_id": _hex_id(span.get("traceId"), 16, "traceId", from_base64=base64_ids),
        "parent_id": _hex_id(span.get("parentSpanId"), 8, "parentSpanId", from_base64=base64_ids),
        "name": span.get("name") or "span", "kind": kind, "start_time": start, "end_time": end,
        "status": "error" if failed else "ok",
        "error_message": status.get("message") if failed else None,
        "error_type": attrs.pop("error.type", None) if failed else None,
        "model": model, "provider": attrs.pop("gen_ai.provider.name", None) or attrs.pop("gen_ai.system", None),
        "prompt_tokens": _int(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                              "llm.token_count.prompt"),
        "completion_tokens": _int(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                                  "llm.token_count.completion"),
        "cached_tokens": _int(attrs, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cached_tokens"),
        "cost": attrs.pop("shipyard.cost", None) or attrs.pop("gen_ai.usage.cost", None),
        "ttft_ms": ttft,
        "session_id": attrs.pop("session.id", None) or attrs.pop("gen_ai.conversation.id", None),
        "user_id": attrs.pop("user.id", None) or attrs.pop("enduser.id", None),
        "input": _content(attrs, events, "input"), "output": _content(attrs, events, "output"),
    }
    if out["id"] is None or out["trace_id"] is None:
        raise InvalidRequest("every span needs a traceId and a spanId", param="spanId")
    if start is None:
        raise InvalidRequest("every span needs a startTimeUnixNano", param="startTimeUnixNano")
    meta = {k[len("shipyard.metadata."):] if k.startswith("shipyard.metadata.") else k: v for k, v in attrs.items()}
    meta.pop("shipyard.project_id", None)
    if resource.get("service.name"):
        meta["service.name"] = resource["service.name"]
    if scope:
        meta["otel.scope"] = scope
    out["metadata"] = meta or None
    return out


def parse_request(body: bytes, content_type: str, content_encoding: str | None) -> list[dict[str, Any]]:
    """An OTLP/HTTP export request (protobuf or JSON, optionally gzipped) to span dicts."""
    if content_encoding and content_encoding.lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            raise InvalidRequest("the body is not valid gzip", code="invalid_body") from None
    base64_ids = False
    if "protobuf" in content_type:
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        message = ExportTraceServiceRequest()
        try:
            message.ParseFromString(body)
        except DecodeError:
            raise InvalidRequest("the body is not an OTLP ExportTraceServiceRequest", code="invalid_body") from None
        data: Any = MessageToDict(message, use_integers_for_enums=True)
        base64_ids = True
    elif "json" in content_type or not content_type:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}",
                                 code="invalid_json") from None
    else:
        raise InvalidRequest("send application/x-protobuf or application/json", code="unsupported_media_type")
    if not isinstance(data, dict):
        raise InvalidRequest("expected an object with resourceSpans", param="resourceSpans")
    spans = []
    for rs in data.get("resourceSpans") or []:
        resource = _attrs((rs.get("resource") or {}).get("attributes"))
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            scope = (ss.get("scope") or ss.get("instrumentationLibrary") or {}).get("name")
            for span in ss.get("spans") or []:
                spans.append(otlp_span_to_shipyard(span, resource, scope, base64_ids=base64_ids))
    return spans


# -- out -----------------------------------------------------------------------------------------------
def _id_bytes(value: str | None, size: int) -> bytes:
    if not value:
        return b""
    try:
        raw = bytes.fromhex(value)
        if len(raw) == size:
            return raw
    except ValueError:
        pass
    return hashlib.sha256(value.encode()).digest()[:size]  # ids that are not OTLP-shaped, kept stable


def _any(value: Any) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    return AnyValue(string_value=orjson.dumps(value, default=str).decode())


def _nano(when: datetime | None) -> int:
    if when is None:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1e9)


def rows_to_request(rows: list[dict[str, Any]], service_name: str = "shipyard") -> Any:
    """Stored span rows to an ExportTraceServiceRequest, with GenAI attributes."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

    spans = []
    for row in rows:
        attrs: dict[str, Any] = {"shipyard.span.kind": row["kind"], "shipyard.project_id": row["project_id"]}
        if row["kind"] in KIND_OPERATIONS:
            attrs["gen_ai.operation.name"] = KIND_OPERATIONS[row["kind"]]
        pairs = [("gen_ai.request.model", "model"), ("gen_ai.provider.name", "provider"),
                 ("gen_ai.usage.input_tokens", "prompt_tokens"), ("gen_ai.usage.output_tokens", "completion_tokens"),
                 ("gen_ai.usage.cache_read.input_tokens", "cached_tokens"), ("shipyard.cost", "cost"),
                 ("shipyard.ttft_ms", "ttft_ms"), ("session.id", "session_id"), ("user.id", "user_id"),
                 ("error.type", "error_type"), ("http.response.status_code", "status_code")]
        for attr, col in pairs:
            if row.get(col) is not None:
                attrs[attr] = row[col]
        if row.get("input") is not None:
            attrs["gen_ai.input.messages" if row["kind"] == "generation" else "input.value"] = row["input"]
        if row.get("output") is not None:
            attrs["gen_ai.output.messages" if row["kind"] == "generation" else "output.value"] = row["output"]
        for key, value in (row.get("metadata") or {}).items():
            attrs[f"shipyard.metadata.{key}"] = value
        status = (Status(code=Status.STATUS_CODE_ERROR, message=row.get("error_message") or "")
                  if row.get("status") == "error" else Status(code=Status.STATUS_CODE_OK))
        spans.append(Span(
            trace_id=_id_bytes(row["trace_id"], 16), span_id=_id_bytes(row["id"], 8),
            parent_span_id=_id_bytes(row.get("parent_id"), 8), name=row["name"],
            kind=Span.SPAN_KIND_CLIENT if row["kind"] in ("generation", "embedding") else Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=_nano(row["start_time"]), end_time_unix_nano=_nano(row.get("end_time")),
            attributes=[KeyValue(key=k, value=_any(v)) for k, v in attrs.items()], status=status))
    resource = Resource(attributes=[KeyValue(key="service.name", value=_any(service_name))])
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=resource, scope_spans=[ScopeSpans(scope=InstrumentationScope(name="shipyard"), spans=spans)])])


class OtlpExporter:
    """Sends stored spans to an OTLP/HTTP collector from its own thread."""

    def __init__(self, endpoint: str, headers: dict[str, str] | None = None, *, queue_size: int = 20_000,
                 batch_size: int = 512, timeout: float = 10.0, retries: int = 2) -> None:
        self.endpoint = endpoint
        self.headers = {"Content-Type": "application/x-protobuf", **(headers or {})}
        self.batch_size = batch_size
        self.timeout = timeout
        self.retries = retries
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(queue_size)
        self.sent = 0
        self.dropped = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shipyard-otlp-export", daemon=True)
        self._thread.start()

    def offer(self, by_table: dict[Any, list[dict[str, Any]]]) -> None:
        """The writer's listener: queue the stored spans, never block."""
        for table, rows in by_table.items():
            if table.name != "spans":
                continue
            for row in rows:
                try:
                    self.queue.put_nowait(row)
                except queue.Full:
                    self.dropped += 1

    def _take(self, wait: float) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        try:
            batch.append(self.queue.get(timeout=wait))
            while len(batch) < self.batch_size:
                batch.append(self.queue.get_nowait())
        except queue.Empty:
            pass
        return batch

    def _send(self, client: Any, batch: list[dict[str, Any]]) -> None:
        body = rows_to_request(batch).SerializeToString()
        for attempt in range(self.retries + 1):
            try:
                response = client.post(self.endpoint, content=body, headers=self.headers)
                if response.status_code < 300:
                    self.sent += len(batch)
                    return
                if response.status_code < 500 and response.status_code not in (408, 429):
                    break  # the collector refuses this batch; resending will not help
            except Exception as exc:  # a collector being down must never reach the platform
                log.debug("OTLP export failed: %s", exc)
            if attempt < self.retries and not self._stop.is_set():
                time.sleep(0.5 * 2 ** attempt)
        self.failures += 1
        self.dropped += len(batch)
        log.warning("dropped %d spans the OTLP collector at %s did not take", len(batch), self.endpoint)

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=self.timeout) as client:
            while not (self._stop.is_set() and self.queue.empty()):
                batch = self._take(0.2)
                if batch:
                    self._send(client, batch)

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (up to `timeout`), then end the thread."""
        self._stop.set()
        self._thread.join(timeout)
