"""The core's refusal of a notice, said on the notice form: which control, what to fix.

`check_request` refuses with a field path and an English message, the same for the API
and the console. The form needs the control that path stands for and a Japanese sentence
(from the catalog, console.notice.*), and for a send time, the reason it was refused
(past, too far ahead, in quiet hours with the next allowed time), which the core's one
`send_at` refusal does not say.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from broadcaster import quiet_hours
from broadcaster.broadcast_requests import BroadcastRefused
from broadcaster.console.notice_form import FormRefused, NoticeForm, message
from broadcaster.console.notice_words import language_name
from broadcaster.horizon import refusal as beyond_horizon
from broadcaster.settings import Settings


def form_refusal(fields: dict[str, str]) -> dict[str, Any]:
    """Messages per control as the form shows them, under the one sentence above them."""
    return {"detail": message("refused"), "fields": fields}


_OVER_LIMIT = re.compile(r"([\d,]+) UTF-16 units, LINE allows ([\d,]+)")
_TRIAL_LANGUAGE = re.compile(r"language=([a-z-]+)")


def refused_fields(
    exc: BroadcastRefused, form: NoticeForm, settings: Settings, now: datetime
) -> dict[str, str]:
    """The core's refusal as the form's control and a Japanese sentence."""
    where = exc.field
    if where == "title":
        return {"title": message("title_empty" if not form.title else "title_long")}
    if where == "category":
        return {"category": message("category")}
    over = _OVER_LIMIT.search(exc.message)
    if over is not None:
        language = _TRIAL_LANGUAGE.search(exc.message)
        detail = f"{over[1]}文字、上限は{over[2]}文字"
        if language is not None:
            detail += f"（{language_name(language[1])}の文面）"
        return {"text": message("messages", detail=detail)}
    if where == "template":
        return {"text": message("template", detail=exc.message.removeprefix("template: "))}
    if where == "messages":
        return {"text": message("messages", detail=exc.message.removeprefix("LINE limits: "))}
    if where.startswith("rule"):
        return {"targets": message("rule")}
    if where == "segment_id":
        return {"segment_id": message("segment")}
    if where == "recurrence":
        if "quiet hours" in exc.message:
            return {"repeat": message("repeat_quiet", window=quiet_window(settings))}
        return {"repeat": message("repeat")}
    if where == "digest":
        return {"digest": message("digest")}
    if where == "send_at":
        return {"send_at": _send_at_text(form, settings, now)}
    return {where: exc.message}


def quiet_window(settings: Settings) -> str:
    """The quiet hours as staff read them (e.g. 21:00–08:00)."""
    return quiet_hours.window_label(settings.quiet_hours)


def _send_at_text(form: NoticeForm, settings: Settings, now: datetime) -> str:
    try:
        chosen = form.when_local(settings) or now
    except FormRefused as exc:
        return exc.fields["send_at"]
    if beyond_horizon(chosen, settings, now):
        return message("send_at_far", days=settings.scheduling.horizon_days)
    if chosen < now:
        return message("send_at_past")
    if quiet_hours.in_quiet_hours(chosen, settings.quiet_hours, settings.tz):
        suggested = quiet_hours.next_allowed(chosen, settings.quiet_hours, settings.tz)
        return message(
            "send_at_quiet",
            window=quiet_window(settings),
            suggested=f"{suggested.astimezone(settings.tz):%m月%d日 %H:%M}",
        )
    return message("send_at_other")
