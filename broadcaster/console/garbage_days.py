"""One garbage collection day in the console (/console/garbage/{zone}/{day}): its reminders
and their corrections, and cancelling (中止) or moving (変更) it with a reason.

Cancel and move call the same `garbage.changes` functions as the API: residents already
reminded get the correction.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from broadcaster.api.calendars import CancelBody, MoveBody
from broadcaster.api.deps import SessionDep, SettingsDep, get_renderer
from broadcaster.broadcast_requests import BroadcastRefused
from broadcaster.broadcasts import Broadcast
from broadcaster.catalog import text as catalog_text
from broadcaster.clock import utcnow
from broadcaster.console.garbage import BASE, Owner, garbage_page
from broadcaster.console.web import Staff, redirect, require_csrf
from broadcaster.garbage.changes import ChangeError, cancel_day, move_day
from broadcaster.garbage.importer import today_in
from broadcaster.garbage.models import CollectionDay, GarbageReminder
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


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
    return garbage_page(
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
