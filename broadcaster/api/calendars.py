"""Garbage calendars over HTTP: import (upload), list days, cancel/move a day, import history,
and the public iCal export.

Who may change a calendar: the configured garbage department (garbage.department, 環境課 by
default) and admins. Everyone else gets 403: the calendar decides what every resident of a
zone is told, so it has one owner.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    File,
    Query,
    Request,
    Response,
    UploadFile,
)
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.auth import Actor, CurrentActor
from broadcaster.clock import utcnow
from broadcaster.departments import Role
from broadcaster.errors import Forbidden, NotFound, TooLarge
from broadcaster.garbage.changes import cancel_day, move_day
from broadcaster.garbage.export import export_calendar
from broadcaster.garbage.ical import CalendarError
from broadcaster.garbage.importer import import_calendar, kind_table, record_refusal
from broadcaster.garbage.models import CalendarImport, CalendarSource, CollectionDay
from broadcaster.offload import off_loop
from broadcaster.render import Renderer
from broadcaster.settings import Settings

router = APIRouter(prefix="/calendars", tags=["garbage calendar"])
export_router = APIRouter(tags=["garbage calendar"])


def get_renderer(request: Request) -> Renderer:
    renderer: Renderer | None = getattr(request.app.state, "renderer", None)
    if renderer is None:
        renderer = Renderer.from_settings(request.app.state.settings)
        request.app.state.renderer = renderer
    return renderer


RendererDep = Annotated[Renderer, Depends(get_renderer)]


def calendar_owner(actor: CurrentActor, settings: SettingsDep) -> Actor:
    if actor.role != Role.admin and actor.department_name != settings.garbage.department:
        raise Forbidden("calendar.owner_only", department=settings.garbage.department)
    return actor


OwnerDep = Annotated[Actor, Depends(calendar_owner)]


class CancelBody(BaseModel):
    reason: str = Field(min_length=1, max_length=150, examples=["台風のため"])


class MoveBody(BaseModel):
    to: date
    reason: str = Field(min_length=1, max_length=150, examples=["年末年始のため"])


def _zone(zone: str, settings: Settings) -> str:
    if zone not in settings.residents.zones:
        raise NotFound("not_found.zone", ident=zone, known=", ".join(settings.residents.zones))
    return zone


async def _read(file: UploadFile, settings: Settings) -> bytes:
    limit = settings.limits.calendar_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge("body.too_large", limit=limit)
    return data


def _import(
    session: Session,
    settings: Settings,
    actor: Actor,
    data: bytes,
    name: str,
    zone: str | None,
    dry_run: bool,
) -> dict[str, Any]:
    now = utcnow()
    source = f"upload:{name}"
    try:
        result = import_calendar(
            session,
            data,
            settings=settings,
            now=now,
            actor=actor.label,
            source=source,
            zone=zone,
            dry_run=dry_run,
            department_id=actor.department_id,
        )
    except CalendarError as exc:
        session.rollback()
        if not dry_run:
            record_refusal(session, now=now, actor=actor.label, source=source, zone=zone, error=exc)
            session.commit()
        raise  # 422 (broadcaster.api.refusals)
    session.commit()
    return result.as_dict()


@router.post("/{zone}", summary="Import an iCal file for one zone (replaces its future days)")
async def import_zone(
    zone: str,
    session: SessionDep,
    settings: SettingsDep,
    actor: OwnerDep,
    file: Annotated[UploadFile, File(description="an .ics file")],
    dry_run: Annotated[bool, Query(description="report what would change, change nothing")] = False,
) -> dict[str, Any]:
    data = await _read(file, settings)
    # Parsing a calendar (its recurrences expanded) is CPU work: off the event loop.
    return await off_loop(
        _import,
        session,
        settings,
        actor,
        data,
        file.filename or "calendar.ics",
        _zone(zone, settings),
        dry_run,
    )


@router.post("", summary="Import an iCal file naming its zones (X-ZONE, CATEGORIES or LOCATION)")
async def import_zones(
    session: SessionDep,
    settings: SettingsDep,
    actor: OwnerDep,
    file: Annotated[UploadFile, File(description="an .ics file")],
    dry_run: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    data = await _read(file, settings)
    return await off_loop(
        _import, session, settings, actor, data, file.filename or "calendar.ics", None, dry_run
    )


@router.get("/imports", summary="Recent imports (with refusals) and the state of fetched sources")
def imports(
    session: SessionDep, actor: CurrentActor, limit: int = Query(20, ge=1, le=200)
) -> dict[str, Any]:
    del actor
    rows = session.exec(
        select(CalendarImport).order_by(col(CalendarImport.id).desc()).limit(limit)
    ).all()
    sources = session.exec(select(CalendarSource).order_by(col(CalendarSource.zone))).all()
    return {
        "imports": [row.model_dump(mode="json") for row in rows],
        "sources": [source.model_dump(mode="json") for source in sources],
    }


@router.get("/{zone}/days", summary="A zone's collection days")
def days(
    zone: str,
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> list[dict[str, Any]]:
    del actor
    query = select(CollectionDay).where(CollectionDay.zone == _zone(zone, settings))
    if start:
        query = query.where(col(CollectionDay.date) >= start)
    if end:
        query = query.where(col(CollectionDay.date) <= end)
    table = kind_table(settings)
    return [
        {**row.model_dump(mode="json"), "names": table.display(row.kinds, row.unmapped)}
        for row in session.exec(query.order_by(col(CollectionDay.date))).all()
    ]


@router.post(
    "/{zone}/days/{day}/cancel", summary="Cancel a collection day (and correct sent reminders)"
)
def cancel(
    zone: str,
    day: date,
    body: CancelBody,
    session: SessionDep,
    settings: SettingsDep,
    actor: OwnerDep,
    renderer: RendererDep,
) -> dict[str, Any]:
    result = cancel_day(
        session,
        zone=_zone(zone, settings),
        day=day,
        reason=body.reason,
        actor=actor.label,
        department_id=actor.department_id,
        settings=settings,
        renderer=renderer,
        now=utcnow(),
    )
    session.commit()
    return result.as_dict()


@router.post(
    "/{zone}/days/{day}/move", summary="Move a collection day (and correct sent reminders)"
)
def move(
    zone: str,
    day: date,
    body: MoveBody,
    session: SessionDep,
    settings: SettingsDep,
    actor: OwnerDep,
    renderer: RendererDep,
) -> dict[str, Any]:
    result = move_day(
        session,
        zone=_zone(zone, settings),
        day=day,
        to=body.to,
        reason=body.reason,
        actor=actor.label,
        department_id=actor.department_id,
        settings=settings,
        renderer=renderer,
        now=utcnow(),
    )
    session.commit()
    return {**result.as_dict(), "moved_from": day.isoformat()}


@export_router.get(
    "/calendars/{zone}.ics",
    summary="A zone's collection days as iCal (public, for calendar apps)",
    response_class=Response,
)
def export(zone: str, session: SessionDep, settings: SettingsDep) -> Response:
    body = export_calendar(session, _zone(zone, settings), settings, utcnow())
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="garbage-{zone}.ics"'},
    )
