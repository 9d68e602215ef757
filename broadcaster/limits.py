"""LINE's limits on message objects, checked in exactly one place.

Everything we hand to LINE passes `check_messages` first: a broadcast is refused when it is
created, not when 40,000 residents are waiting for it. The SDK's own generated models check
the structure (so what we produce is what the SDK accepts); the limits those models do not
enforce (UTF-16 lengths, JSON sizes, coordinate ranges, blank text) are checked here.
Figures are from the Messaging API reference ("Message objects", "Status codes").
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import linebot.v3.messaging.models as line_models
from linebot.v3.messaging import Message
from pydantic.v1 import ValidationError as V1ValidationError

MAX_MESSAGES = 5
MAX_TEXT_UTF16 = 5000
MAX_TEXT_EMOJIS = 20
MAX_LOCATION_FIELD = 100
MAX_ALT_TEXT = 1500
MAX_BUBBLE_JSON_BYTES = 30_000
MAX_CAROUSEL_JSON_BYTES = 50_000
MAX_CAROUSEL_BUBBLES = 12
MAX_QUICK_REPLY_ITEMS = 13
MAX_SENDER_NAME = 20
# Alt texts that say nothing about the message (what editors leave in by default).
PLACEHOLDER_ALT_TEXTS = frozenset(
    {"画像", "写真", "イメージ", "flex", "flex message", "image", "photo", "this is a flex message"}
)
# LINE refuses request bodies over 2 MB; the messages get half of it so that 500 recipient
# ids and the rest of the body always fit.
MAX_MESSAGES_JSON_BYTES = 1_000_000


@dataclass(frozen=True)
class LimitProblem:
    path: str  # e.g. "messages[1].text"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class MessageLimitError(ValueError):
    """Message objects LINE would refuse; `problems` names each index and field."""

    def __init__(self, problems: Sequence[LimitProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def utf16_units(text: str) -> int:
    # LINE counts UTF-16 code units, so an emoji outside the BMP counts as two.
    return len(text.encode("utf-16-le")) // 2


# Ends a text the gate had to shorten, so a resident sees it was cut (not a garbled end).
CUT_MARK = "…（以下省略）"
# The longest field of each message type the gate may shorten: (type, field) -> limit.
FITTED_FIELDS: Mapping[tuple[str, str], int] = {
    ("text", "text"): MAX_TEXT_UTF16,
    ("location", "title"): MAX_LOCATION_FIELD,
    ("location", "address"): MAX_LOCATION_FIELD,
    ("flex", "altText"): MAX_ALT_TEXT,
}


def fit_utf16(text: str, limit: int, mark: str = CUT_MARK) -> str:
    """`text` if it fits in `limit` UTF-16 units, else its start ending in `mark`, in
    `limit` units at most. Never cuts inside a surrogate pair (an emoji stays whole)."""
    if utf16_units(text) <= limit:
        return text
    mark = mark if utf16_units(mark) < limit else ""
    budget = limit - utf16_units(mark)
    kept: list[str] = []
    for char in text:
        units = 2 if ord(char) > 0xFFFF else 1
        if units > budget:
            break
        budget -= units
        kept.append(char)
    return "".join(kept) + mark


def gate(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """THE gate after any edit of rendered messages (an emergency's free text, the
    【訓練】 mark, a fallback text): each text-bearing field is shortened to LINE's limit
    with CUT_MARK at its end, then everything is checked. Returns the messages as sent;
    raises MessageLimitError for what shortening cannot fix (six objects, a huge flex)."""
    fitted: list[dict[str, Any]] = []
    for message in messages:
        message = dict(message)
        for (kind, name), limit in FITTED_FIELDS.items():
            value = message.get(name)
            if message.get("type") == kind and isinstance(value, str):
                message[name] = fit_utf16(value, limit)
        fitted.append(message)
    check_messages(fitted)
    return fitted


def json_bytes(value: Any) -> int:
    """Size of `value` as compact UTF-8 JSON, the way it goes over the wire."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def check_messages(messages: Sequence[Mapping[str, Any]]) -> None:
    """Raise MessageLimitError listing every problem LINE would refuse; return if sendable."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise MessageLimitError([LimitProblem("messages", "must be a list of message objects")])
    problems: list[LimitProblem] = []
    if not messages:
        problems.append(LimitProblem("messages", "nothing to send, LINE needs 1 to 5 objects"))
    elif len(messages) > MAX_MESSAGES:
        problems.append(
            LimitProblem(
                "messages", f"{len(messages)} message objects, LINE allows {MAX_MESSAGES}"
            )
        )
    for index, message in enumerate(messages):
        problems.extend(_check_message(f"messages[{index}]", message))
    if not problems:
        problems.extend(check_text_first(messages))
    if not problems:
        size = json_bytes(list(messages))
        if size > MAX_MESSAGES_JSON_BYTES:
            problems.append(
                LimitProblem(
                    "messages",
                    f"{size:,} bytes of JSON, we allow {MAX_MESSAGES_JSON_BYTES:,} "
                    "(LINE's request limit is 2 MB)",
                )
            )
    if problems:
        raise MessageLimitError(problems)


def _check_message(prefix: str, message: Any) -> list[LimitProblem]:
    if not isinstance(message, Mapping):
        return [LimitProblem(prefix, "must be an object")]
    kind = message.get("type")
    class_name = Message.get_discriminator_value(dict(message)) if isinstance(kind, str) else None
    if not class_name:
        return [LimitProblem(f"{prefix}.type", f"unknown message type {kind!r}")]
    problems = _sdk_problems(prefix, class_name, dict(message))
    if problems:
        return problems
    if kind == "text":
        problems.extend(_check_text(prefix, message))
    elif kind == "location":
        problems.extend(_check_location(prefix, message))
    elif kind == "flex":
        problems.extend(_check_flex(prefix, message))
    problems.extend(_check_common(prefix, message))
    return problems


def _sdk_problems(prefix: str, class_name: str, message: dict[str, Any]) -> list[LimitProblem]:
    """Parse with the SDK's concrete model (keeps error paths), then its polymorphic
    `from_dict`, and report properties the SDK would silently drop (typos in Flex JSON)."""
    klass = getattr(line_models, class_name)
    try:
        klass.parse_obj(message)
        parsed = klass.from_dict(message)
    except V1ValidationError as exc:
        found: list[LimitProblem] = []
        for error in exc.errors():
            path = prefix + "".join(
                f"[{part}]" if isinstance(part, int) else f".{part}"
                for part in error["loc"]
                if part != "__root__"
            )
            if all(p.path != path for p in found):
                found.append(LimitProblem(path, f"LINE SDK refuses it: {error['msg']}"))
        return found
    except (ValueError, KeyError, TypeError) as exc:
        return [LimitProblem(prefix, f"LINE SDK refuses it: {exc}"[:300])]
    dropped = _first_dropped(message, parsed.to_dict(), prefix)
    return [LimitProblem(dropped, "unknown property, LINE does not know it")] if dropped else []


def _first_dropped(given: Any, kept: Any, path: str) -> str | None:
    if isinstance(given, Mapping) and isinstance(kept, Mapping):
        for key, value in given.items():
            if key not in kept:
                if value is None:
                    continue
                return f"{path}.{key}"
            deeper = _first_dropped(value, kept[key], f"{path}.{key}")
            if deeper:
                return deeper
    elif isinstance(given, list) and isinstance(kept, list):
        for i, (a, b) in enumerate(zip(given, kept, strict=False)):
            deeper = _first_dropped(a, b, f"{path}[{i}]")
            if deeper:
                return deeper
    return None


def _length(path: str, value: Any, limit: int, what: str = "UTF-16 units") -> list[LimitProblem]:
    if not isinstance(value, str) or not value.strip():
        return [LimitProblem(path, "must not be empty")]
    units = utf16_units(value)
    if units > limit:
        return [LimitProblem(path, f"{units:,} {what}, LINE allows {limit:,}")]
    return []


def _check_text(prefix: str, message: Mapping[str, Any]) -> list[LimitProblem]:
    problems = _length(f"{prefix}.text", message.get("text"), MAX_TEXT_UTF16)
    emojis = message.get("emojis") or []
    if len(emojis) > MAX_TEXT_EMOJIS:
        problems.append(
            LimitProblem(f"{prefix}.emojis", f"{len(emojis)} emojis, LINE allows {MAX_TEXT_EMOJIS}")
        )
    return problems


def _check_location(prefix: str, message: Mapping[str, Any]) -> list[LimitProblem]:
    problems = _length(f"{prefix}.title", message.get("title"), MAX_LOCATION_FIELD)
    problems += _length(f"{prefix}.address", message.get("address"), MAX_LOCATION_FIELD)
    for name, bound in (("latitude", 90.0), ("longitude", 180.0)):
        value = message.get(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not -bound <= value <= bound
        ):
            problems.append(
                LimitProblem(
                    f"{prefix}.{name}", f"{value!r} is not a {name} (-{bound:g}..{bound:g})"
                )
            )
    return problems


def _check_flex(prefix: str, message: Mapping[str, Any]) -> list[LimitProblem]:
    problems = _length(f"{prefix}.altText", message.get("altText"), MAX_ALT_TEXT)
    contents = message.get("contents")
    kind = contents.get("type") if isinstance(contents, Mapping) else None
    if kind not in ("bubble", "carousel") or not isinstance(contents, Mapping):
        return [*problems, LimitProblem(f"{prefix}.contents.type", "must be bubble or carousel")]
    limit = MAX_BUBBLE_JSON_BYTES if kind == "bubble" else MAX_CAROUSEL_JSON_BYTES
    size = json_bytes(contents)
    if size > limit:
        problems.append(
            LimitProblem(
                f"{prefix}.contents", f"{size:,} bytes of {kind} JSON, LINE allows {limit:,}"
            )
        )
    bubbles = contents.get("contents") if kind == "carousel" else None
    if isinstance(bubbles, list) and len(bubbles) > MAX_CAROUSEL_BUBBLES:
        problems.append(
            LimitProblem(
                f"{prefix}.contents.contents",
                f"{len(bubbles)} bubbles, LINE allows {MAX_CAROUSEL_BUBBLES}",
            )
        )
    return problems


def _check_common(prefix: str, message: Mapping[str, Any]) -> list[LimitProblem]:
    problems: list[LimitProblem] = []
    quick = message.get("quickReply")
    items = quick.get("items") if isinstance(quick, Mapping) else None
    if isinstance(items, list) and len(items) > MAX_QUICK_REPLY_ITEMS:
        problems.append(
            LimitProblem(
                f"{prefix}.quickReply.items",
                f"{len(items)} items, LINE allows {MAX_QUICK_REPLY_ITEMS}",
            )
        )
    sender = message.get("sender")
    name = sender.get("name") if isinstance(sender, Mapping) else None
    if isinstance(name, str) and len(name) > MAX_SENDER_NAME:
        problems.append(
            LimitProblem(
                f"{prefix}.sender.name", f"{len(name)} characters, LINE allows {MAX_SENDER_NAME}"
            )
        )
    return problems


def check_text_first(messages: Sequence[Mapping[str, Any]]) -> list[LimitProblem]:
    """Text first: the key information must be readable as text, not only in a picture.

    Images, video, audio, stickers and imagemaps tell a resident using a screen reader,
    reading the notification, or translating into their language nothing; a Flex card made
    only of images and boxes neither. So at least one message must carry words (a text, a
    location, a Flex with text components, a template with text), and a Flex, template or
    imagemap's alt text (all that notifications and PCs show) must not be a placeholder
    such as 「画像」 or "Flex Message". Returns the problems found."""
    problems: list[LimitProblem] = []
    for index, message in enumerate(messages):
        if message.get("type") in ("flex", "template", "imagemap"):
            alt = str(message.get("altText", "")).strip()
            if alt.casefold() in PLACEHOLDER_ALT_TEXTS:
                problems.append(
                    LimitProblem(
                        f"messages[{index}].altText",
                        f"{alt!r} says nothing: notifications, screen readers and PCs show "
                        "only the alt text, so write the key information in it",
                    )
                )
    if messages and not any(_has_words(m) for m in messages):
        problems.append(
            LimitProblem(
                "messages",
                "the key information is only in images: add a text message that says it "
                "(screen readers, notifications and translation read only text)",
            )
        )
    return problems


def _has_words(message: Mapping[str, Any]) -> bool:
    kind = message.get("type")
    if kind in ("text", "textV2", "location"):
        return True
    if kind == "flex":
        return _flex_has_text(message.get("contents"))
    if kind == "template":
        template = message.get("template")
        return isinstance(template, Mapping) and bool(str(template.get("text", "")).strip())
    return False


def _flex_has_text(node: Any) -> bool:
    """Whether a Flex tree has a text (or span) component with words in it."""
    if isinstance(node, Mapping):
        if node.get("type") in ("text", "span") and str(node.get("text", "")).strip():
            return True
        return any(_flex_has_text(value) for value in node.values())
    if isinstance(node, list):
        return any(_flex_has_text(value) for value in node)
    return False
