"""The emergency policy: what the core does differently for an evacuation order.

Registered at start (`register`, from `broadcaster.features.register_features`). An
emergency goes first (priority) and ignores quiet hours, caps and opt-outs (its priority
alone says so, through `policies.exempt`). Its render is hardened (`emergency_render`):
a context whose template fails gets the plain-text fallback, the desk's free text is
always in it, and a drill's every message starts with 【訓練】; each edit passes LINE's
gate (`broadcaster.limits.gate`), counted in UTF-16 units.

The desk's text is checked when the order is created (`free_text_problem`): one that
cannot fit beside the order's own wording is refused, saying by how much to shorten it,
rather than cut. What reaches LINE is never over a limit: the gate shortens a field that
still does not fit (its end, with a mark) and the mark itself is never cut.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from broadcaster import limits, policies
from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.broadcasts import Broadcast, BroadcastKind, Priority
from broadcaster.policies import Policy
from broadcaster.render import Renderer, TemplateError
from broadcaster.settings import Settings

DRILL_MARK = "【訓練】"
LIFT_TEMPLATE = "evacuation_lifted"
# The desk's free text always fits when at most QUICK_ROOM UTF-16 units long (no order's
# own wording takes 2,000 of a text message's 5,000); a longer one is measured against
# the rendered order. FREE_TEXT_MAX_UTF16: the bound when the wording cannot be measured.
QUICK_ROOM = 3000
FREE_TEXT_MAX_UTF16 = 4000


log = logging.getLogger(__name__)


def mark_drill(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every message starts with 【訓練】 (text, location title, flex altText), kept within
    LINE's limits by the gate (the end gives way, never the mark)."""
    marked: list[dict[str, Any]] = []
    for message in messages:
        message = dict(message)
        key = {"text": "text", "location": "title", "flex": "altText"}.get(message.get("type", ""))
        if key and not str(message.get(key, "")).startswith(DRILL_MARK):
            message[key] = DRILL_MARK + str(message.get(key, ""))
        marked.append(message)
    return limits.gate(marked)


def with_free_text(
    messages: list[dict[str, Any]], note: str, translations: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The desk's free text, added to the first text message if the template left it out
    (a template that shows the resident's language's text instead has not), or as a first
    text message of its own, dropping the last object if five are taken: the desk's
    words matter more than a fourth shelter. Passed through LINE's gate, which shortens
    the end (the free text) with a mark if it does not fit."""
    shown = [t for t in (note, *translations) if t]
    if not note or any(t in str(m.get("text", "")) for m in messages for t in shown):
        return limits.gate(messages)
    out = [dict(m) for m in messages]
    for message in out:
        if message.get("type") == "text":
            message["text"] = str(message["text"]) + "\n\n" + note
            return limits.gate(out)
    return limits.gate([{"type": "text", "text": note}, *out[: limits.MAX_MESSAGES - 1]])


def free_text_room(
    renderer: Renderer, request: BroadcastRequest, districts: Sequence[str], settings: Settings
) -> int:
    """UTF-16 units left for the desk's text in the order's longest text message: LINE's
    5,000 less the order's own wording (rendered without the text, for every language
    and district it goes to), the 【訓練】 mark and the line breaks around the text."""
    prepared = renderer.prepare(
        template_name=request.template_name,
        template_text=request.template_text,
        parameters={**request.parameters, "text": ""},
        trial=False,
    )
    longest = 0
    for language in settings.residents.languages:
        for district in districts:
            context = {"language": language, "district": district}
            if set(prepared.resident_fields) - set(context):
                return FREE_TEXT_MAX_UTF16  # reads more than we can vary: the safe bound
            try:
                messages = prepared.render(context)
            except (TemplateError, limits.MessageLimitError):
                continue  # this context gets the plain-text fallback
            texts = [str(m["text"]) for m in messages if m.get("type") == "text"]
            longest = max([longest, *map(limits.utf16_units, texts)])
    mark = limits.utf16_units(DRILL_MARK) if request.drill else 0
    return limits.MAX_TEXT_UTF16 - longest - mark - len("\n\n")


def free_text_problem(
    renderer: Renderer, request: BroadcastRequest, districts: Sequence[str], settings: Settings
) -> tuple[int, int] | None:
    """(its length, the room there is) when the request's free text (`parameters["text"]`)
    is too long to go, both in UTF-16 units; None when it fits."""
    text = str(request.parameters.get("text") or "")
    units = limits.utf16_units(text)
    if units <= QUICK_ROOM:
        return None  # shorter than any order's room: no need to render to know
    room = free_text_room(renderer, request, districts, settings)
    if units <= room:
        return None
    return units, room


def fallback_messages(broadcast: Broadcast) -> list[dict[str, Any]]:
    """Plain text from the stored parameters: what is sent if the template ever fails."""
    p = broadcast.parameters
    lifted = broadcast.template_name == LIFT_TEMPLATE or broadcast.template_text is not None
    head = f"{p.get('level_label', '')} {p.get('disaster_kind', '')}".strip()
    text = f"{head} 解除" if lifted else f"【{head}】"
    areas = "・".join(p.get("districts", []))
    body = "\n".join(t for t in (text, areas, str(p.get("text", ""))) if t)
    return limits.gate([{"type": "text", "text": body}])


def emergency_render(
    broadcast: Broadcast, render: Callable[[Mapping[str, Any]], list[dict[str, Any]]]
) -> Callable[[Mapping[str, Any]], list[dict[str, Any]]]:
    """The order's render, hardened: rendering cannot stop an order (a context whose
    rendering fails gets the plain-text fallback, logged), and a drill's every message
    starts with 【訓練】. The emergency policy applies it to every emergency broadcast, so an
    order sent by the API, by the scheduler or by a resumed dispatch reads the same."""
    drill = broadcast.drill
    note = str(broadcast.parameters.get("text") or "")
    translations = tuple(str(t) for t in (broadcast.parameters.get("texts") or {}).values())

    def hardened(context: Mapping[str, Any]) -> list[dict[str, Any]]:
        try:
            messages = render(context)
        except Exception:
            log.exception(
                "emergency broadcast %s: template failed; sending plain text", broadcast.id
            )
            messages = fallback_messages(broadcast)
        try:
            messages = with_free_text(messages, note, translations)
            return mark_drill(messages) if drill else messages
        except limits.MessageLimitError:
            # Over a limit the gate cannot shorten (six objects): the plain text goes.
            log.exception("emergency broadcast %s: over LINE's limits; plain text", broadcast.id)
            plain = with_free_text(fallback_messages(broadcast), note, translations)
            return mark_drill(plain) if drill else plain

    return hardened


def register() -> None:
    policies.register(
        Policy(kind=BroadcastKind.emergency, harden=emergency_render, priority=Priority.emergency)
    )
