"""Training data in the chat JSONL format of OpenAI's fine-tuning API: validation, tokenization, estimates.

Validation is structural first (no tokenizer needed, so every bad line is reported fast with its number
and reason) and then counts tokens with the base model's tokenizer. Only assistant messages are learned
(OpenAI's rule), and an assistant message with `"weight": 0` is context only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from shipyard.errors import InvalidRequest

ROLES = ("system", "user", "assistant")
_MESSAGE_KEYS = {"role", "content", "name", "weight"}
_EXAMPLE_KEYS = {"messages"}
MIN_EXAMPLES = 10  # OpenAI's minimum; fewer is a warning here so a smoke test can run on three lines
MAX_REPORTED = 20  # bad lines spelled out in an error message; all of them are in `error.lines`


@dataclass
class LineError:
    line: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason}


@dataclass
class Parsed:
    examples: list[list[dict[str, Any]]] = field(default_factory=list)  # each example's messages
    lines: list[int] = field(default_factory=list)  # the line number of each example
    errors: list[LineError] = field(default_factory=list)


def _content(value: Any) -> str | None:
    """A string, or OpenAI's list of text parts flattened to one string; None when neither."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in value):
        texts = [p.get("text") for p in value]
        if all(isinstance(t, str) for t in texts):
            return "".join(texts)  # type: ignore[arg-type]
    return None


def _check_example(obj: Any) -> tuple[list[dict[str, Any]] | None, str | None]:
    if not isinstance(obj, dict):
        return None, f"expected a JSON object, got {type(obj).__name__}"
    if "messages" not in obj:
        if "prompt" in obj or "completion" in obj:
            return None, "prompt/completion format is not supported: use the chat format {\"messages\": [...]}"
        return None, "missing 'messages'"
    extra = set(obj) - _EXAMPLE_KEYS - {"tools", "functions", "parallel_tool_calls"}
    if extra:
        return None, f"unrecognized key {sorted(extra)[0]!r}"
    if obj.get("tools") or obj.get("functions"):
        return None, "tools and function calls are not supported for fine-tuning local models yet"
    messages = obj["messages"]
    if not isinstance(messages, list) or not messages:
        return None, "'messages' must be a non-empty list"
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            return None, f"{where} is not an object"
        role = m.get("role")
        if role is None:
            return None, f"{where}: missing 'role'"
        if role in ("tool", "function") or m.get("tool_calls") or m.get("function_call"):
            return None, f"{where}: tool and function calls are not supported for fine-tuning local models yet"
        if role not in ROLES:
            return None, f"{where}: unknown role {role!r} (expected one of {', '.join(ROLES)})"
        extra = set(m) - _MESSAGE_KEYS
        if extra:
            return None, f"{where}: unrecognized key {sorted(extra)[0]!r}"
        if "content" not in m:
            return None, f"{where}: missing 'content'"
        text = _content(m["content"])
        if text is None:
            return None, f"{where}: 'content' must be a string or a list of text parts"
        weight = m.get("weight", 1)
        if "weight" in m and (role != "assistant" or weight not in (0, 1) or isinstance(weight, bool)):
            return None, f"{where}: 'weight' must be 0 or 1 and only on assistant messages"
        out.append({"role": role, "content": text, "weight": weight})
    first = next((m for m in out if m["role"] != "system"), None)
    if first is None or first["role"] != "user":
        return None, "the first message after any system message must be from the user"
    if not any(m["role"] == "assistant" and m["weight"] for m in out):
        return None, "no assistant message to learn from (add one, or set its weight to 1)"
    return out, None


def parse_jsonl(content: bytes) -> Parsed:
    """Every line checked; blank lines are skipped, every other bad line is reported with its reason."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the file is not UTF-8 text (byte {exc.start}): fine-tuning files are JSONL",
                             param="file", code="invalid_file_format") from exc
    parsed = Parsed()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            parsed.errors.append(LineError(number, f"invalid JSON: {exc}"))
            continue
        messages, reason = _check_example(obj)
        if reason is not None:
            parsed.errors.append(LineError(number, reason))
        else:
            assert messages is not None
            parsed.examples.append(messages)
            parsed.lines.append(number)
    return parsed


def require_valid(parsed: Parsed, filename: str) -> None:
    """Raise one error naming every bad line (the message spells out the first ones, `lines` has all)."""
    if parsed.errors:
        n = len(parsed.errors)
        shown = "; ".join(f"line {e.line}: {e.reason}" for e in parsed.errors[:MAX_REPORTED])
        more = f"; and {n - MAX_REPORTED} more" if n > MAX_REPORTED else ""
        raise InvalidRequest(
            f"{filename}: {n} bad line{'s' if n > 1 else ''} — {shown}{more}", param="file", code="invalid_file_format",
            extra={"lines": [e.as_dict() for e in parsed.errors]})
    if not parsed.examples:
        raise InvalidRequest(f"{filename}: no training examples in the file", param="file", code="invalid_file_format")


# -- tokens -------------------------------------------------------------------------------------------------
def encode(tokenizer: Any, messages: list[dict[str, Any]], max_len: int) -> tuple[list[int], list[int], int]:
    """Token ids and labels (-100 where nothing is learned) for one example, cut at `max_len`.

    The chat template is rendered for each prefix of the conversation, so the tokens that belong to each
    assistant answer are known exactly. Returns (ids, labels, full length before the cut)."""
    chat = [{"role": m["role"], "content": m["content"]} for m in messages]
    ids: list[int] = []
    labels: list[int] = []

    def add(text: str, learn: bool) -> None:
        if not text:
            return
        part = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids.extend(part)
        labels.extend(part if learn else [-100] * len(part))

    prev = ""
    for i, m in enumerate(messages):
        full = tokenizer.apply_chat_template(chat[: i + 1], tokenize=False)
        if m["role"] == "assistant" and m["weight"]:
            head = tokenizer.apply_chat_template(chat[:i], tokenize=False, add_generation_prompt=True)
            if not (head.startswith(prev) and full.startswith(head)):
                raise InvalidRequest("the base model's chat template renders conversations unpredictably; "
                                     "fine-tuning needs a prefix-stable template (ChatML, Llama 3, ...)")
            add(head[len(prev):], False)
            add(full[len(head):], True)
        else:
            add(full[len(prev):] if full.startswith(prev) else full, False)
        prev = full
    return ids[:max_len], labels[:max_len], len(ids)


@dataclass
class TokenStats:
    examples: int
    total_tokens: int  # after the cut at max_seq_length: what one epoch trains on
    trained_tokens: int  # assistant tokens that carry a loss
    max_example_tokens: int
    truncated: list[int]  # line numbers of examples longer than max_seq_length

    def as_dict(self) -> dict[str, Any]:
        return {"examples": self.examples, "total_tokens": self.total_tokens, "trained_tokens": self.trained_tokens,
                "max_example_tokens": self.max_example_tokens, "truncated_lines": self.truncated[:100]}


def token_stats(tokenizer: Any, parsed: Parsed, max_len: int) -> TokenStats:
    total = learned = longest = 0
    truncated: list[int] = []
    for messages, line in zip(parsed.examples, parsed.lines, strict=True):
        ids, labels, full = encode(tokenizer, messages, max_len)
        total += len(ids)
        learned += sum(1 for x in labels if x != -100)
        longest = max(longest, full)
        if full > max_len:
            truncated.append(line)
    return TokenStats(len(parsed.examples), total, learned, longest, truncated)


def estimate(stats: TokenStats, tokens_per_second: float, basis: str, n_epochs: int, batch_size: int,
             max_len: int) -> dict[str, Any]:
    """Seconds per epoch from the throughput measured on this installation's last job (or a stated default)."""
    steps = math.ceil(stats.examples / batch_size)
    seconds = stats.total_tokens / tokens_per_second if tokens_per_second > 0 else None
    warnings = []
    if stats.examples < MIN_EXAMPLES:
        warnings.append(f"only {stats.examples} examples: OpenAI asks for at least {MIN_EXAMPLES}, and 50 to 100 "
                        "make a noticeable difference")
    if stats.truncated:
        warnings.append(f"{len(stats.truncated)} examples are longer than max_seq_length={max_len} and will be cut")
    return {**stats.as_dict(), "steps_per_epoch": steps, "n_epochs": n_epochs, "batch_size": batch_size,
            "max_seq_length": max_len, "tokens_per_second": round(tokens_per_second, 1), "throughput_basis": basis,
            "estimated_seconds_per_epoch": None if seconds is None else round(seconds, 1),
            "estimated_seconds_total": None if seconds is None else round(seconds * n_epochs, 1),
            "warnings": warnings}
