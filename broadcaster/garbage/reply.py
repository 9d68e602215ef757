"""The 「ごみ」 answer: a resident asks (text or rich-menu postback `action=garbage`) and gets
the next collection days of their zone, by reply (no quota), or a prompt to set the zone.

The reply needs the settings (zone names, kinds, time zone), which the webhook's command
signature does not carry: `register(settings)` puts it in the webhook's registries
(`webhook_commands`, with the sorting-dictionary answer, sorting_reply.py) and is called
once by create_app.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlmodel import Session, col, select

from broadcaster.clock import local
from broadcaster.garbage import sorting_reply
from broadcaster.garbage.kinds import kind_table
from broadcaster.garbage.models import CollectionDay, DayStatus
from broadcaster.garbage.reminders import day_label
from broadcaster.settings import Settings
from broadcaster.webhook_commands import POSTBACK_COMMANDS, TEXT_COMMANDS
from segments.catalog import texts_for
from segments.residents import Resident

TEXT = "ごみ"
POSTBACK_ACTION = "garbage"


def garbage_reply(
    session: Session, resident: Resident, now: datetime, *, settings: Settings
) -> list[dict[str, Any]]:
    """LINE message dicts: the next `garbage.reply_days` collection days of the resident's
    zone, 「今日」「明日」 marked; a prompt to choose a zone when none is set. In the
    resident's language (segments.catalog; kinds and zones by [residents.labels])."""
    texts = texts_for(resident.language, settings.residents.labels)
    zone = resident.garbage_zone
    if not zone:
        return [{"type": "text", "text": texts("garbage.no_zone", settings=texts.word("settings"))}]
    today = local(now, settings.tz).date()
    days = session.exec(
        select(CollectionDay)
        .where(
            CollectionDay.zone == zone,
            col(CollectionDay.date) >= today,
            CollectionDay.status == DayStatus.scheduled,
        )
        .order_by(col(CollectionDay.date))
        .limit(settings.garbage.reply_days)
    ).all()
    if not days:
        return [{"type": "text", "text": texts("garbage.no_days", zone=texts.label(zone))}]
    table = kind_table(settings)
    lines = [texts("garbage.header", zone=texts.label(zone))]
    for day in days:
        ahead = (day.date - today).days
        word = {0: texts("garbage.today"), 1: texts("garbage.tomorrow")}.get(ahead, "")
        prefix = texts("garbage.mark", word=word) if word else ""
        # Japanese keeps the calendar's own label (with 祝); others read the catalog's.
        label = day_label(day.date) if texts.language == "ja" else texts.date(day.date)
        names = table.text(day.kinds, day.unmapped, day.notes or [], texts.language)
        lines.append(f"{prefix}{label} {names}")
    return [{"type": "text", "text": "\n".join(lines)}]


def register(settings: Settings) -> None:
    """Answer 「ごみ」 and `action=garbage` in the webhook with these settings."""
    command = partial(garbage_reply, settings=settings)
    TEXT_COMMANDS[TEXT] = command
    POSTBACK_COMMANDS[POSTBACK_ACTION] = command
    sorting_reply.register(settings)
