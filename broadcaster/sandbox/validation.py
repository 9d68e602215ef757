"""Request-body validation with the SDK's own generated models plus LINE's documented
limits that those models do not enforce.

The SDK models are pydantic v1. Their nested `from_dict` loses the path of an error, so
each message is first parsed with its concrete class's `parse_obj` (which keeps paths such
as `quickReply.items`), then through the SDK's `from_dict` for the deep polymorphic checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import linebot.v3.messaging.models as line_models
from linebot.v3.messaging import (
    BroadcastRequest,
    Message,
    MulticastRequest,
    NarrowcastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    ValidateMessageRequest,
)
from pydantic.v1 import BaseModel
from pydantic.v1 import ValidationError as V1ValidationError

from broadcaster.sandbox.errors import Problem

MODELS: dict[str, type[BaseModel]] = {
    "push": PushMessageRequest,
    "multicast": MulticastRequest,
    "broadcast": BroadcastRequest,
    "narrowcast": NarrowcastRequest,
    "reply": ReplyMessageRequest,
    "validate": ValidateMessageRequest,
}

# LINE limits from the Messaging API reference ("Message objects").
MAX_TEXT_UTF16 = 5000
MAX_LOCATION_FIELD = 100
MAX_ALT_TEXT = 1500
MAX_QUICK_REPLY_ITEMS = 13
MAX_RECIPIENTS = 500

# Multicast takes user IDs only; push also takes group (C...) and room (R...) IDs.
USER_ID = re.compile(r"U[0-9a-f]{32}")
PUSH_TARGET = re.compile(r"[UCR][0-9a-f]{32}")


class InvalidJson(ValueError):
    """The body is not JSON at all (LINE answers 400)."""


def utf16_units(text: str) -> int:
    # LINE counts UTF-16 code units, so an emoji outside the BMP counts as two.
    return len(text.encode("utf-16-le")) // 2


def _path(prefix: str, loc: Sequence[int | str]) -> str:
    out = prefix
    for part in loc:
        if part == "__root__":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "/"


def _wording(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in ("value_error.missing", "type_error.none.not_allowed"):
        return "must be specified"
    if kind == "value_error.list.max_items":
        return f"Size must be at most {ctx.get('limit_value')}"
    if kind == "value_error.list.min_items":
        return f"Size must be at least {ctx.get('limit_value')}"
    if kind == "value_error.any_str.max_length":
        return f"Length must be at most {ctx.get('limit_value')}"
    if kind == "value_error.any_str.min_length":
        return f"Length must be at least {ctx.get('limit_value')}"
    return str(error.get("msg", "invalid property"))


def _from_pydantic(prefix: str, exc: V1ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for error in exc.errors():
        path = _path(prefix, error["loc"])
        # Union fields report one error per alternative; LINE reports the property once.
        if path in seen:
            continue
        seen.add(path)
        problems.append(Problem(_wording(dict(error)), path))
    return problems


def _limits(prefix: str, message: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    kind = message.get("type")
    text = message.get("text")
    if kind in ("text", "textV2") and isinstance(text, str):
        if text == "":
            problems.append(Problem("May not be empty", f"{prefix}.text"))
        elif utf16_units(text) > MAX_TEXT_UTF16:
            problems.append(
                Problem(f"Length must be between 0 and {MAX_TEXT_UTF16}", f"{prefix}.text")
            )
    if kind == "location":
        for name in ("title", "address"):
            value = message.get(name)
            if isinstance(value, str) and len(value) > MAX_LOCATION_FIELD:
                limit = f"Length must be between 0 and {MAX_LOCATION_FIELD}"
                problems.append(Problem(limit, f"{prefix}.{name}"))
    alt = message.get("altText")
    if kind == "flex" and isinstance(alt, str) and len(alt) > MAX_ALT_TEXT:
        limit = f"Length must be between 0 and {MAX_ALT_TEXT}"
        problems.append(Problem(limit, f"{prefix}.altText"))
    quick = message.get("quickReply")
    items = quick.get("items") if isinstance(quick, dict) else None
    if isinstance(items, list) and len(items) > MAX_QUICK_REPLY_ITEMS:
        limit = f"Size must be between 0 and {MAX_QUICK_REPLY_ITEMS}"
        problems.append(Problem(limit, f"{prefix}.quickReply.items"))
    return problems


def _message(index: int, message: Any) -> list[Problem]:
    prefix = f"messages[{index}]"
    if not isinstance(message, dict):
        return [Problem("must be an object", prefix)]
    kind = message.get("type")
    if not kind:
        return [Problem("must be specified", f"{prefix}.type")]
    class_name = Message.get_discriminator_value(message) if isinstance(kind, str) else None
    if not class_name:
        return [Problem("invalid message type", f"{prefix}.type")]
    klass: type[BaseModel] = getattr(line_models, class_name)
    try:
        klass.parse_obj(message)
    except V1ValidationError as exc:
        return _from_pydantic(prefix, exc)
    try:
        klass.from_dict(message)  # type: ignore[attr-defined]
    except V1ValidationError as exc:
        # Deep polymorphic parts (actions, flex components) lose their path here.
        return [Problem(_wording(dict(e)), prefix) for e in exc.errors()[:1]]
    except (ValueError, KeyError, TypeError) as exc:
        return [Problem(f"invalid property: {exc}"[:200], prefix)]
    return _limits(prefix, message)


def _recipients(kind: str, body: dict[str, Any]) -> list[Problem]:
    to = body.get("to")
    if kind == "multicast" and isinstance(to, list):
        return [
            Problem("invalid user id", f"to[{i}]")
            for i, user in enumerate(to)
            if not (isinstance(user, str) and USER_ID.fullmatch(user))
        ]
    if kind == "push" and isinstance(to, str) and not PUSH_TARGET.fullmatch(to):
        return [Problem("invalid recipient id", "to")]
    return []


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidJson(str(exc)) from exc


def validate_body(kind: str, body: Any) -> list[Problem]:
    """Problems with a parsed JSON body for endpoint `kind` (see MODELS); empty if valid."""
    model = MODELS[kind]
    if not isinstance(body, dict):
        return [Problem("The request body must be a JSON object", "/")]
    problems: list[Problem] = []
    messages = body.get("messages")
    if isinstance(messages, list):
        for index, message in enumerate(messages):
            problems.extend(_message(index, message))
    checked = body
    to = body.get("to")
    if kind == "multicast" and isinstance(to, list) and 1 < len(to) <= MAX_RECIPIENTS:
        # The SDK's model checks that each id is a string; `_recipients` below checks every
        # id (and its form) anyway, so the model sees one: walking 500 ids through pydantic
        # costs ~0.9 ms, a fifth of a core at LINE's 200 multicasts a second.
        checked = {**body, "to": to[:1]}
    try:
        model.parse_obj(checked)
    except V1ValidationError as exc:
        # Per-message errors were reported with better paths above.
        problems.extend(
            p for p in _from_pydantic("", exc) if not p.property.startswith("messages[")
        )
    problems.extend(_recipients(kind, body))
    return problems
