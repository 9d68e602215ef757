"""How a template's output becomes LINE message objects.

A template is written as plain text: what it prints is a text message. Three helpers make
other objects, in the order they appear (see templates/README.md), and one adds buttons:

    {{ location(title, address, latitude, longitude) }}   a LINE location message
    {{ flex(alt_text, contents) }}                         a Flex message (bubble/carousel,
                                                           a mapping or its JSON text)
    {{ next_message() }}                                   end this text message, start another
    {{ quick_reply(items) }}                               quick-reply buttons on the message
                                                           before it ([{label, data}] postbacks
                                                           or [{label, text}] messages)

Each helper prints a marker (NUL, a per-renderer secret, the object's JSON, NUL); after
rendering, the output is split at the markers. Text between markers is stripped and
becomes a text message unless blank, so line breaks around a helper never make an empty
message. Markers need no state per render, so rendering stays a pure function of the
context. The secret keeps a parameter's text from posing as a marker.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

_NUL = "\x00"


class HelperError(ValueError):
    """A helper was called with arguments that cannot make a message object."""


class MessageMarkers:
    """The helpers templates call, and the parser that turns their output into objects."""

    names = ("location", "flex", "next_message", "quick_reply")

    def __init__(self) -> None:
        self._token = secrets.token_hex(8)
        self._pattern = re.compile(f"{_NUL}{self._token}(.*?){_NUL}", re.DOTALL)

    def helpers(self) -> dict[str, Callable[..., str]]:
        return {
            "location": self.location,
            "flex": self.flex,
            "next_message": self.next_message,
            "quick_reply": self.quick_reply,
        }

    def _marker(self, obj: Mapping[str, Any] | None) -> str:
        payload = "" if obj is None else json.dumps(obj, ensure_ascii=True)
        return f"{_NUL}{self._token}{payload}{_NUL}"

    def location(self, title: Any, address: Any, latitude: Any, longitude: Any) -> str:
        """A location message (a shelter, an event venue); limits are checked afterwards."""
        try:
            lat, lon = float(latitude), float(longitude)
        except (TypeError, ValueError):
            raise HelperError(
                f"location({title!r}): latitude and longitude must be numbers, "
                f"got {latitude!r}, {longitude!r}"
            ) from None
        return self._marker(
            {
                "type": "location",
                "title": _text(title),
                "address": _text(address),
                "latitude": lat,
                "longitude": lon,
            }
        )

    def flex(self, alt_text: Any, contents: Any) -> str:
        """A Flex message; `contents` is a bubble/carousel mapping or its JSON text (as
        pasted from LINE's Flex Message Simulator)."""
        if isinstance(contents, str):
            try:
                contents = json.loads(contents)
            except json.JSONDecodeError as exc:
                raise HelperError(f"flex(): contents is not valid JSON: {exc}") from None
        if not isinstance(contents, Mapping):
            raise HelperError("flex(): contents must be a bubble or carousel object")
        return self._marker({"type": "flex", "altText": _text(alt_text), "contents": contents})

    def next_message(self) -> str:
        return self._marker(None)

    def quick_reply(self, items: Any) -> str:
        """Quick-reply buttons for the message printed before this call (a survey's 1-5).
        Each item is {label, data} (a postback, echoed in the chat as its label) or
        {label, text} (the resident sends the text); LINE's limits are checked afterwards."""
        if not isinstance(items, list | tuple) or not items:
            raise HelperError("quick_reply(): items must be a non-empty list")
        buttons = []
        for item in items:
            if not isinstance(item, Mapping) or "label" not in item:
                raise HelperError("quick_reply(): each item needs a label")
            label = _text(item["label"])
            if "data" in item:
                action = {"type": "postback", "label": label, "data": str(item["data"]),
                          "displayText": label}
            elif "text" in item:
                action = {"type": "message", "label": label, "text": _text(item["text"])}
            else:
                raise HelperError(f"quick_reply(): item {label!r} needs data or text")
            buttons.append({"type": "action", "action": action})
        return self._marker({"quickReply": {"items": buttons}})

    def contains_marker(self, value: str) -> bool:
        return _NUL in value

    def parse(self, output: str) -> list[dict[str, Any]]:
        """Split rendered output into message objects, in order."""
        messages: list[dict[str, Any]] = []
        position = 0
        for match in self._pattern.finditer(output):
            _append_text(messages, output[position : match.start()])
            if match.group(1):
                obj = json.loads(match.group(1))
                if "type" in obj:
                    messages.append(obj)
                elif messages:
                    messages[-1]["quickReply"] = obj["quickReply"]
                else:
                    raise HelperError("quick_reply(): nothing printed before it to attach to")
            position = match.end()
        _append_text(messages, output[position:])
        return messages


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _append_text(messages: list[dict[str, Any]], text: str) -> None:
    # A NUL left over is a marker a filter cut apart; LINE text never contains NUL anyway.
    text = text.replace(_NUL, "").strip()
    if text:
        messages.append({"type": "text", "text": text})
