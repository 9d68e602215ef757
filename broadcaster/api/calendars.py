"""Garbage calendars over HTTP: import (upload), list days, cancel/move a day, import history,
and the public iCal export.

Who may change a calendar: the configured garbage department (garbage.department, 環境課 by
default) and admins. Everyone else gets 403: the calendar decides what every resident of a
zone is told, so it has one owner.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    File,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.auth import Actor, CurrentActor
from broadcaster.broadcast_changes import BroadcastRefused
from broadcaster.clock import utcnow
from broadcaster.departments import Role
from broadcaster.errors import TooLarge
from broadcaster.garbage.changes import ChangeError, cancel_day, move_day
from broadcaster.garbage.days import CalendarError
from broadcaster.garbage.export import export_calendar
from broadcaster.garbage.importer import (
    ImportResult,
    import_5374,
    import_calendar,
    record_refusal,
)
from broadcaster.garbage.kinds import kind_table
from broadcaster.garbage.models import CalendarImport, CalendarSource, CollectionDay
from broadcaster.garbage.sorting import import_dictionary
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
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"garbage calendars are managed by {settings.garbage.department} "
            "(garbage.department) or an admin",
        )
    return actor


OwnerDep = Annotated[Actor, Depends(calendar_owner)]


class CancelBody(BaseModel):
    reason: str = Field(min_length=1, max_length=150, examples=["台風のため"])


class MoveBody(BaseModel):
    to: date
    reason: str = Field(min_length=1, max_length=150, examples=["年末年始のため"])


def _zone(zone: str, settings: Settings) -> str:
    if zone not in settings.residents.zones:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"unknown zone {zone!r} (known: {', '.join(settings.residents.zones)})",
        )
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
    source: str,
    zone: str | None,
    dry_run: bool,
    run: Callable[[datetime], ImportResult],
) -> dict[str, Any]:
    """Run one import (parse, expand, replace) and commit; a refusal is recorded and 422.
    Called in a worker thread: a 1.6 MB calendar takes seconds to expand."""
    now = utcnow()
    try:
        result = run(now)
    except CalendarError as exc:
        session.rollback()
        if not dry_run:
            record_refusal(session, now=now, actor=actor.label, source=source, zone=zone, error=exc)
            session.commit()
        raise  # 422 (broadcaster.api.refusals)
    session.commit()
    return result.as_dict()


async def _import_ical(
    session: Session,
    settings: Settings,
    actor: Actor,
    file: UploadFile,
    zone: str | None,
    dry_run: bool,
    strict: bool,
) -> dict[str, Any]:
    data = await _read(file, settings)
    source = f"upload:{file.filename or 'calendar.ics'}"

    def run(now: datetime) -> ImportResult:
        return import_calendar(
            session,
            data,
            settings=settings,
            now=now,
            actor=actor.label,
            source=source,
            zone=zone,
            dry_run=dry_run,
            strict=strict,
            department_id=actor.department_id,
        )

    # Parsing (recurrences expanded) is CPU work: off the event loop.
    return await off_loop(_import, session, settings, actor, source, zone, dry_run, run)


StrictQuery = Annotated[
    bool, Query(description="refuse the whole file when any series (or 5374 cell) is bad")
]
DryRunQuery = Annotated[bool, Query(description="report what would change, change nothing")]


@router.post("/5374", summary="Import a 5374 data set (area_days.csv, center.csv, remarks.csv)")
async def import_5374_set(
    session: SessionDep,
    settings: SettingsDep,
    actor: OwnerDep,
    area_days: Annotated[UploadFile, File(description="area_days.csv")],
    center: Annotated[UploadFile | None, File(description="center.csv (breaks)")] = None,
    remarks: Annotated[UploadFile | None, File(description="remarks.csv (notes *1…)")] = None,
    zone_column: Annotated[
        str | None, Query(description="an area_days.csv column naming our zone")
    ] = None,
    dry_run: DryRunQuery = False,
    strict: StrictQuery = False,
) -> dict[str, Any]:
    files = {"area_days.csv": await _read(area_days, settings)}
    if center is not None:
        files["center.csv"] = await _read(center, settings)
    if remarks is not None:
        files["remarks.csv"] = await _read(remarks, settings)
    source = f"5374:{area_days.filename or 'area_days.csv'}"

    def run(now: datetime) -> ImportResult:
        return import_5374(
            session,
            files,
            settings=settings,
            now=now,
            actor=actor.label,
            source=source,
            zone_column=zone_column,
            dry_run=dry_run,
            strict=strict,
            department_id=actor.department_id,
        )

    # Parsing (recurrences expanded) is CPU work: off the event loop.
    return await off_loop(_import, session, settings, actor, source, None, dry_run, run)


@router.post(
    "/dictionary",
    summary="Import the sorting dictionary (5374 target.csv or 品目,区分,注意); replaces it",
)
async def import_sorting_dictionary(
    session: SessionDep,
    settings: SettingsDep,
    actor: OwnerDep,
    file: Annotated[UploadFile, File(description="target.csv or 品目,区分,注意 CSV")],
    dry_run: DryRunQuery = False,
) -> dict[str, Any]:
    data = await _read(file, settings)
    source = f"dictionary:{file.filename or 'dictionary.csv'}"

    def run() -> dict[str, Any]:
        now = utcnow()
        try:
            report = import_dictionary(
                session,
                data,
                now=now,
                actor=actor.label,
                source=source,
                dry_run=dry_run,
                department_id=actor.department_id,
            )
        except CalendarError as exc:
            session.rollback()
            if not dry_run:
                record_refusal(session, now=now, actor=actor.label, source=source, zone=None,
                               error=exc)
                session.commit()
            raise  # 422 (broadcaster.api.refusals)
        session.commit()
        return report

    return await off_loop(run)


@router.post("/{zone}", summary="Import an iCal file for one zone (replaces its future days)")
async def import_zone(
    zone: str,
    session: SessionDep,
    settings: SettingsDep,
    actor: OwnerDep,
    file: Annotated[UploadFile, File(description="an .ics file")],
    dry_run: DryRunQuery = False,
    strict: StrictQuery = False,
) -> dict[str, Any]:
    return await _import_ical(
        session, settings, actor, file, _zone(zone, settings), dry_run, strict
    )


@router.post("", summary="Import an iCal file naming its zones (X-ZONE, CATEGORIES or LOCATION)")
async def import_zones(
    session: SessionDep,
    settings: SettingsDep,
    actor: OwnerDep,
    file: Annotated[UploadFile, File(description="an .ics file")],
    dry_run: DryRunQuery = False,
    strict: StrictQuery = False,
) -> dict[str, Any]:
    return await _import_ical(session, settings, actor, file, None, dry_run, strict)


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
        {
            **row.model_dump(mode="json"),
            "names": table.display(row.kinds, row.unmapped),
            "text": table.text(row.kinds, row.unmapped, row.notes or []),
        }
        for row in session.exec(query.order_by(col(CollectionDay.date))).all()
    ]


def _change_error(exc: ChangeError | BroadcastRefused) -> HTTPException:
    if isinstance(exc, ChangeError):
        code = status.HTTP_404_NOT_FOUND if exc.not_found else status.HTTP_422_UNPROCESSABLE_CONTENT
        return HTTPException(code, str(exc))
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, f"correction refused: {exc.message}"
    )


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
    try:
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
    except (ChangeError, BroadcastRefused) as exc:
        session.rollback()
        raise _change_error(exc) from None
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
    try:
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
    except (ChangeError, BroadcastRefused) as exc:
        session.rollback()
        raise _change_error(exc) from None
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
