"""The 「ごみ」 answer: a resident asks (text or rich-menu postback `action=garbage`) and gets
the next collection days of their zone, by reply (no quota), or a prompt to set the zone.

The reply needs the settings (zone names, kinds, time zone), which the webhook's command
signature does not carry: `register(settings)` puts it in the webhook's registries and is
called once by create_app.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlmodel import Session, col, select

from broadcaster.clock import local
from broadcaster.garbage.importer import kind_table
from broadcaster.garbage.models import CollectionDay, DayStatus
from broadcaster.garbage.reminders import day_label, relative_word
from broadcaster.settings import Settings
from broadcaster.webhook import POSTBACK_COMMANDS, TEXT_COMMANDS
from segments import enrollment
from segments.residents import Resident

TEXT = "ごみ"
POSTBACK_ACTION = "garbage"


def garbage_reply(
    session: Session, resident: Resident, now: datetime, *, settings: Settings
) -> list[dict[str, Any]]:
    """LINE message dicts: the next `garbage.reply_days` collection days of the resident's
    zone, 「今日」「明日」 marked; a prompt to choose a zone when none is set."""
    zone = resident.garbage_zone
    if not zone:
        return [
            {
                "type": "text",
                "text": (
                    "ごみの収集地区が設定されていません。\n"
                    f"「{enrollment.SETTINGS_TEXT}」と送って、収集地区を選んでください。"
                ),
            }
        ]
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
        return [{"type": "text", "text": f"{zone}地区の今後のごみ収集日はまだ登録されていません。"}]
    table = kind_table(settings)
    lines = [f"{zone}地区のごみ収集日"]
    for day in days:
        word = relative_word(day.date, today)
        prefix = f"【{word}】" if word else ""
        lines.append(
            f"{prefix}{day_label(day.date)} {'、'.join(table.display(day.kinds, day.unmapped))}"
        )
    return [{"type": "text", "text": "\n".join(lines)}]


def register(settings: Settings) -> None:
    """Answer 「ごみ」 and `action=garbage` in the webhook with these settings."""
    command = partial(garbage_reply, settings=settings)
    TEXT_COMMANDS[TEXT] = command
    POSTBACK_COMMANDS[POSTBACK_ACTION] = command
