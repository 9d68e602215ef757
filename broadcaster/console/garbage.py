"""The garbage calendar (/console/garbage), for 環境課 (garbage.department) and admins: see
each zone's coming days and reminders, and the recent imports.

This module also holds what the calendar's other pages share: the owner rule (the API's),
the labels and the page renderer. Uploading a file is `garbage_uploads`, cancelling or
moving one day `garbage_days`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from broadcaster.api.calendars import calendar_owner
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.broadcasts import Broadcast
from broadcaster.catalog import text as catalog_text
from broadcaster.clock import utcnow
from broadcaster.console.web import ConsoleStaff, Staff, render, require_csrf
from broadcaster.garbage.importer import NOTE_PREFIX, UNMAPPED_PREFIX, today_in
from broadcaster.garbage.kinds import kind_table
from broadcaster.garbage.models import CalendarImport, CollectionDay, GarbageReminder
from broadcaster.garbage.reminders import day_label
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
BASE = "/console/garbage"
FORMATS = {"ical": "iCal（.ics）", "5374": "5374形式のCSV（area_days.csv）"}
# How far ahead the zone's days are listed.
DAYS_AHEAD = 28
STATUS_LABELS = {"scheduled": "収集", "cancelled": "中止"}
BROADCAST_LABELS = {
    "scheduled": "送信予定",
    "sending": "送信中",
    "sent": "送信済み",
    "partially_failed": "一部失敗",
    "failed": "失敗",
    "cancelled": "取消",
    "expired": "期限切れ",
    "held": "保留",
}
TIMING_LABELS = {"evening": "前日の夕方", "morning": "当日の朝"}


def owner(staff: ConsoleStaff, settings: SettingsDep) -> Staff:
    """Only the calendar's owner (garbage.department) and admins (the API's rule)."""
    calendar_owner(staff.actor, settings)  # 403 page otherwise
    return staff


Owner = Annotated[Staff, Depends(owner)]


def field_refusal(code: str, field: str, reason: str = "") -> dict[str, Any]:
    """A refusal of one form field, in the pages' shape: nothing was changed, and why."""
    message = catalog_text(code, "ja") or code
    detail = catalog_text("console.calendar.unchanged", "ja") or ""
    return {"detail": detail, "fields": {field: message}, "reason": reason}


def _names(settings: Settings) -> Any:
    table = kind_table(settings)

    def names(kinds: list[str]) -> str:
        shown = []
        for kind in kinds:
            if kind.startswith(UNMAPPED_PREFIX):
                shown.append(f"「{kind[len(UNMAPPED_PREFIX) :]}」（分類なし）")
            elif kind.startswith(NOTE_PREFIX):
                shown.append(f"※{kind[len(NOTE_PREFIX) :]}")
            else:
                shown.append(table.name(kind))
        return "・".join(shown)

    return names


def garbage_page(
    request: Request, staff: Staff, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render one of the garbage pages with what they all show (zones, kinds, labels)."""
    settings: Settings = request.app.state.settings
    return render(
        request,
        name,
        staff,
        status_code=status_code,
        zones=settings.residents.zones,
        formats=FORMATS,
        kind_names=_names(settings),
        day_label=day_label,
        day_of=lambda text: day_label(date.fromisoformat(text)),
        status_labels=STATUS_LABELS,
        broadcast_labels=BROADCAST_LABELS,
        timing_labels=TIMING_LABELS,
        **context,
    )


def overview_page(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Staff,
    zone: str | None = None,
    refusal: dict[str, Any] | None = None,
    typed: dict[str, str] | None = None,
    imported: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The calendar's overview of one zone's coming days, with the import form."""
    zones = list(settings.residents.zones)
    shown = zone if zone in zones else zones[0]
    today = today_in(settings, utcnow())
    days = session.exec(
        select(CollectionDay)
        .where(
            CollectionDay.zone == shown,
            col(CollectionDay.date) >= today,
            col(CollectionDay.date) < today + timedelta(days=DAYS_AHEAD),
        )
        .order_by(col(CollectionDay.date))
    ).all()
    reminders = session.exec(
        select(GarbageReminder, Broadcast)
        .join(Broadcast, col(Broadcast.id) == GarbageReminder.broadcast_id)
        .where(GarbageReminder.zone == shown, col(GarbageReminder.date) >= today)
        .order_by(col(GarbageReminder.date), col(GarbageReminder.timing))
        .limit(20)
    ).all()
    next_days = {
        z: session.exec(
            select(CollectionDay)
            .where(
                CollectionDay.zone == z,
                col(CollectionDay.date) >= today,
                CollectionDay.status == "scheduled",
            )
            .order_by(col(CollectionDay.date))
            .limit(1)
        ).first()
        for z in zones
    }
    imports = session.exec(
        select(CalendarImport).order_by(col(CalendarImport.id).desc()).limit(8)
    ).all()
    return garbage_page(
        request,
        staff,
        "garbage.html",
        status_code,
        zone=shown,
        days=days,
        reminders=reminders,
        next_days=next_days,
        imports=imports,
        refusal=refusal,
        typed=typed or {},
        imported=session.get(CalendarImport, imported) if imported else None,
        today=today,
    )


@router.get(BASE, response_class=HTMLResponse)
def overview(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: Owner,
    zone: str | None = None,
    imported: int | None = None,
) -> Response:
    return overview_page(request, session, settings, staff, zone, imported=imported)
