"""The garbage calendar (/console/garbage), for 環境課 (garbage.department) and admins: upload a
zone's iCal (or 5374 CSV) file, see what it would change, apply it; cancel or move one day
with a reason; see each zone's coming days and reminders.

The upload is checked with the importer's own dry run (the diff the API answers with
`dry_run=true`) and nothing is written until the clerk applies it; the file waits in the
data directory under its SHA-256 meanwhile, so the applied file is the one previewed.
Cancel and move call the same `garbage.changes` functions as the API: residents already
reminded get the correction.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from broadcaster.api.calendars import CancelBody, MoveBody, calendar_owner, get_renderer
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.broadcast_requests import BroadcastRefused
from broadcaster.broadcasts import Broadcast
from broadcaster.catalog import text as catalog_text
from broadcaster.clock import utcnow
from broadcaster.console.web import ConsoleStaff, Staff, redirect, render, require_csrf
from broadcaster.errors import field_messages
from broadcaster.garbage.changes import ChangeError, cancel_day, move_day
from broadcaster.garbage.days import CalendarError
from broadcaster.garbage.importer import (
    NOTE_PREFIX,
    UNMAPPED_PREFIX,
    ImportResult,
    import_5374,
    import_calendar,
    record_refusal,
    today_in,
)
from broadcaster.garbage.kinds import kind_table
from broadcaster.garbage.models import CalendarImport, CollectionDay, GarbageReminder
from broadcaster.garbage.reminders import day_label
from broadcaster.offload import off_loop
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
BASE = "/console/garbage"
FORMATS = {"ical": "iCal（.ics）", "5374": "5374形式のCSV（area_days.csv）"}
# How far ahead the zone's days are listed, and how long a previewed file waits.
DAYS_AHEAD = 28
STAGED_FOR = timedelta(hours=6)
STAGED_NAME = re.compile(r"^[0-9a-f]{64}$")
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


def _refusal(code: str, field: str, reason: str = "") -> dict[str, Any]:
    message = catalog_text(code, "ja") or code
    detail = catalog_text("console.calendar.unchanged", "ja") or ""
    return {"detail": detail, "fields": {field: message}, "reason": reason}


def _file_refused(exc: CalendarError) -> dict[str, Any]:
    """Why the file was refused, in Japanese beside the file field: what to do, then the
    catalog's words for its code and each series left out; the English stays under 技術的な理由."""
    refused = _refusal("console.calendar.file", "file", str(exc))
    problems = " ".join(field_messages(exc).values())
    refused["fields"]["file"] = f"{refused['fields']['file']} {problems}".strip()
    return refused


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


def _page(
    request: Request, staff: Staff, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
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


def _overview(
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
    return _page(
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
    return _overview(request, session, settings, staff, zone, imported=imported)


def _staging(settings: Settings) -> Path:
    folder = Path(settings.data_dir) / "console-uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _stage(settings: Settings, data: bytes) -> str:
    """Keep the previewed file until it is applied (old ones are swept on the way)."""
    folder = _staging(settings)
    cutoff = time.time() - STAGED_FOR.total_seconds()
    for old in folder.iterdir():
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    name = hashlib.sha256(data).hexdigest()
    (folder / name).write_bytes(data)
    return name


def _staged(settings: Settings, name: str) -> bytes | None:
    if not STAGED_NAME.match(name):
        return None
    path = _staging(settings) / name
    return path.read_bytes() if path.is_file() else None


def _run(
    session: Session,
    settings: Settings,
    staff: Staff,
    data: bytes,
    kind: str,
    zone: str | None,
    filename: str,
    dry_run: bool,
    now: datetime,
) -> ImportResult:
    """The importer as the API calls it (the same functions, sources named the same way)."""
    actor = staff.actor
    if kind == "5374":
        return import_5374(
            session,
            {"area_days.csv": data},
            settings=settings,
            now=now,
            actor=actor.label,
            source=f"5374:{filename or 'area_days.csv'}",
            dry_run=dry_run,
            department_id=actor.department_id,
        )
    return import_calendar(
        session,
        data,
        settings=settings,
        now=now,
        actor=actor.label,
        source=f"upload:{filename or 'calendar.ics'}",
        zone=zone,
        dry_run=dry_run,
        department_id=actor.department_id,
    )


@router.post(f"{BASE}/preview", response_class=HTMLResponse)
async def preview(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Owner
) -> Response:
    """The dry run of an upload: what would be added, removed, moved; nothing written."""
    form = await request.form()
    upload = form.get("file")
    zone = str(form.get("zone", "")) or None
    kind = str(form.get("format", "ical"))
    typed = {"zone": zone or "", "format": kind}
    if zone is not None and zone not in settings.residents.zones:
        raise HTTPException(404)
    data = b""
    filename = ""
    if isinstance(upload, UploadFile):
        filename = upload.filename or ""
        limit = settings.limits.calendar_bytes
        data = await upload.read(limit + 1)
        await upload.close()
        if len(data) > limit:
            refused = _refusal("body.too_large", "file")
            return _overview(request, session, settings, staff, zone, refused, typed, None, 413)
    if not data:
        refused = _refusal("console.calendar.no_file", "file")
        return _overview(request, session, settings, staff, zone, refused, typed, None, 422)
    try:
        result = await off_loop(
            _run, session, settings, staff, data, kind, zone, filename, True, utcnow()
        )
    except CalendarError as exc:
        session.rollback()
        refused = _file_refused(exc)
        return _overview(request, session, settings, staff, zone, refused, typed, None, 422)
    session.rollback()  # a dry run writes nothing; make sure of it
    return _page(
        request,
        staff,
        "garbage_preview.html",
        result=result.as_dict(),
        staged=_stage(settings, data),
        filename=filename,
        chosen_zone=zone or "",
        kind=kind,
    )


@router.post(f"{BASE}/apply", response_class=HTMLResponse)
async def apply(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Owner
) -> Response:
    """Apply the previewed file: the same import, written this time (future days replaced,
    changed days' unsent reminders withdrawn)."""
    form = await request.form()
    name = str(form.get("staged", ""))
    zone = str(form.get("zone", "")) or None
    kind = str(form.get("format", "ical"))
    filename = str(form.get("filename", ""))
    if zone is not None and zone not in settings.residents.zones:
        raise HTTPException(404)
    data = _staged(settings, name)
    if data is None:
        refused = _refusal("console.calendar.staged_gone", "file")
        return _overview(request, session, settings, staff, zone, refused, None, None, 422)
    now = utcnow()
    try:
        result = await off_loop(
            _run, session, settings, staff, data, kind, zone, filename, False, now
        )
    except CalendarError as exc:
        session.rollback()
        record_refusal(  # as the API does: staff see why the calendar did not change
            session,
            now=now,
            actor=staff.actor.label,
            source=f"upload:{filename}",
            zone=zone,
            error=exc,
        )
        session.commit()
        refused = _file_refused(exc)
        return _overview(request, session, settings, staff, zone, refused, None, None, 422)
    session.commit()
    (_staging(settings) / name).unlink(missing_ok=True)
    first = zone or (result.zones[0] if result.zones else "")
    return redirect(f"{BASE}?zone={first}&imported={result.import_id}")


def _day(session: Session, settings: Settings, zone: str, day: date) -> CollectionDay:
    if zone not in settings.residents.zones:
        raise HTTPException(404)
    row = session.exec(
        select(CollectionDay).where(CollectionDay.zone == zone, CollectionDay.date == day)
    ).first()
    if row is None:
        raise HTTPException(404)
    return row


def _day_page(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Staff,
    row: CollectionDay,
    refusal: dict[str, Any] | None = None,
    which: str = "",
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    reminders = session.exec(
        select(GarbageReminder, Broadcast)
        .join(Broadcast, col(Broadcast.id) == GarbageReminder.broadcast_id)
        .where(GarbageReminder.zone == row.zone, GarbageReminder.date == row.date)
        .order_by(col(GarbageReminder.timing))
    ).all()
    corrections = session.exec(
        select(Broadcast).where(
            col(Broadcast.id).in_([r.correction_id for r, _ in reminders if r.correction_id])
        )
    ).all()
    return _page(
        request,
        staff,
        "garbage_day.html",
        status_code,
        row=row,
        reminders=reminders,
        corrections=corrections,
        refusal=refusal,
        which=which,
        typed=typed or {},
        today=today_in(settings, utcnow()),
    )


@router.get(BASE + "/{zone}/{day}", response_class=HTMLResponse)
def day_page(
    request: Request,
    zone: str,
    day: date,
    session: SessionDep,
    settings: SettingsDep,
    staff: Owner,
) -> Response:
    return _day_page(request, session, settings, staff, _day(session, settings, zone, day))


def _body_refusal(exc: ValidationError, which: str) -> dict[str, Any]:
    fields: dict[str, str] = {}
    for item in exc.errors():
        name = str(item["loc"][0]) if item.get("loc") else "reason"
        code = "console.calendar.to" if name == "to" else "console.calendar.reason"
        fields[f"{which}-{name}"] = catalog_text(code, "ja") or code
    return {"detail": "入力内容を確認してください。", "fields": fields}


def _change_refusal(exc: ChangeError | BroadcastRefused, which: str) -> dict[str, Any]:
    message = catalog_text("console.calendar.change", "ja") or ""
    return {"detail": message, "fields": {f"{which}-reason": message}, "reason": str(exc)}


@router.post(BASE + "/{zone}/{day}/{action}", response_class=HTMLResponse)
async def change(
    request: Request,
    zone: str,
    day: date,
    action: str,
    session: SessionDep,
    settings: SettingsDep,
    staff: Owner,
) -> Response:
    """Cancel (中止) or move (変更) one day with a reason; those reminded get a correction."""
    row = _day(session, settings, zone, day)
    if action not in ("cancel", "move"):
        raise HTTPException(404)
    form = await request.form()
    typed = {str(k): str(v) for k, v in form.items() if k != "csrf_token"}
    actor = staff.actor
    try:
        if action == "cancel":
            body: CancelBody | MoveBody = CancelBody(reason=typed.get("reason", "").strip())
        else:
            body = MoveBody(to=typed.get("to", ""), reason=typed.get("reason", "").strip())  # type: ignore[arg-type]
    except ValidationError as exc:
        refused = _body_refusal(exc, action)
        return _day_page(request, session, settings, staff, row, refused, action, typed, 422)
    common: dict[str, Any] = {
        "zone": zone,
        "day": day,
        "reason": body.reason,
        "actor": actor.label,
        "department_id": actor.department_id,
        "settings": settings,
        "renderer": get_renderer(request),
        "now": utcnow(),
    }
    try:
        if isinstance(body, MoveBody):
            move_day(session, to=body.to, **common)
        else:
            cancel_day(session, **common)
    except (ChangeError, BroadcastRefused) as exc:
        session.rollback()
        session.refresh(row)
        refused = _change_refusal(exc, action)
        return _day_page(request, session, settings, staff, row, refused, action, typed, 422)
    session.commit()
    return redirect(f"{BASE}/{zone}/{day.isoformat()}?done={action}")
