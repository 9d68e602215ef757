"""Quick replies and postbacks as the residents' conversation uses them, within LINE's
limits: at most 13 buttons a message (longer lists get pages), labels of at most 20
characters (the full text is the display text), postback data of at most 300 characters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

# LINE: at most 13 quick-reply buttons, labels at most 20 characters, postback data 300.
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20
MAX_POSTBACK_DATA = 300


def postback_data(**fields: str | int) -> str:
    """Compact, URL-encoded postback data; raises ValueError if LINE would refuse it."""
    # Only the characters that would break the query syntax are escaped: percent-encoding
    # every kanji would triple its length against LINE's 300-character limit.
    data = "&".join(f"{key}={_escape(str(value))}" for key, value in fields.items())
    if len(data) > MAX_POSTBACK_DATA:
        raise ValueError(
            f"postback data is {len(data)} characters, LINE allows {MAX_POSTBACK_DATA}"
        )
    return data


def _escape(value: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in "%&=+#;" or ord(c) < 32 else c for c in value)


def parse_postback(data: str) -> dict[str, str]:
    """The postback's fields (first value of each); malformed data gives an empty dict."""
    try:
        parsed = parse_qs(data, keep_blank_values=True, strict_parsing=True, max_num_fields=8)
    except ValueError:
        return {}
    return {key: values[0] for key, values in parsed.items()}


def paginate(
    items: list[dict[str, Any]],
    page: int,
    fixed: list[dict[str, Any]],
    *,
    next_data: Callable[[int], str],
    next_label: str,
) -> list[dict[str, Any]]:
    """Up to 13 buttons; a longer list shows pages with 「次へ」 (the last page wraps)."""
    room = MAX_QUICK_REPLIES - len(fixed)
    if len(items) <= room:
        return items + fixed
    size = room - 1
    pages = -(-len(items) // size)
    page %= pages
    shown = items[page * size : (page + 1) * size]
    return [*shown, button(next_label, next_data((page + 1) % pages)), *fixed]


def text_message(text: str, quick: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "text", "text": text}
    if quick:
        message["quickReply"] = {"items": quick}
    return message


def button(label: str, data: str) -> dict[str, Any]:
    short = label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"
    return {
        "type": "action",
        "action": {"type": "postback", "label": short, "data": data, "displayText": label},
    }
