"""A zone's calendar as iCal, for residents' own calendar apps (`GET /calendars/{zone}.ics`).

One all-day VEVENT per future collection day, with the Japanese kind names as summary and a
UID that stays the same across exports (zone + date), so a subscribed calendar updates a
day in place instead of duplicating it. All-day dates need no VTIMEZONE.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import icalendar
from sqlmodel import Session, col, select

from broadcaster.clock import as_utc, local
from broadcaster.garbage.kinds import kind_table
from broadcaster.garbage.models import CollectionDay, DayStatus
from broadcaster.settings import Settings

PRODID = "-//broadcaster//garbage calendar//JA"


def uid_for(zone: str, day: object) -> str:
    return f"garbage-{zone}-{day:%Y%m%d}@broadcaster"


def export_calendar(session: Session, zone: str, settings: Settings, now: datetime) -> bytes:
    """The zone's scheduled days from today on, as an iCalendar file (UTF-8 bytes)."""
    today = local(now, settings.tz).date()
    table = kind_table(settings)
    days = session.exec(
        select(CollectionDay)
        .where(
            CollectionDay.zone == zone,
            col(CollectionDay.date) >= today,
            CollectionDay.status == DayStatus.scheduled,
        )
        .order_by(col(CollectionDay.date))
    ).all()
    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", PRODID)
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("X-WR-CALNAME", f"ごみ収集日 {zone}地区")
    calendar.add("X-WR-TIMEZONE", settings.timezone)
    for day in days:
        event = icalendar.Event()
        event.add("UID", uid_for(zone, day.date))
        event.add("DTSTAMP", as_utc(day.updated_at))
        event.add("DTSTART", day.date)
        event.add("DTEND", day.date + timedelta(days=1))
        event.add("SUMMARY", table.text(day.kinds, day.unmapped, day.notes or []))
        event.add("TRANSP", "TRANSPARENT")
        if day.moved_from:
            event.add("DESCRIPTION", f"{day.moved_from:%m月%d日}から変更（{day.reason or ''}）")
        calendar.add_component(event)
    return calendar.to_ical()
