"""Garbage calendars over HTTP: import (upload), list days, cancel/move a day, import history,
and the public iCal export.

Who may change a calendar: the configured garbage department (garbage.department, 環境課 by
default) and admins. Everyone else gets 403: the calendar decides what every resident of a
zone is told, so it has one owner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from datetime import date, datetime
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
from broadcaster.timestamps import CityTimestamp

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


class CalendarImported(BaseModel):
    """What an import changed (or, for a dry run, would change)."""

    import_id: int | None
    dry_run: bool
    zones: list[str]
    days: int
    changes: dict[str, dict[str, list[dict[str, Any]]]] = Field(
        description="per zone: added, removed, moved and changed days"
    )
    unmapped: list[dict[str, Any]] = Field(description="summaries no garbage kind matched")
    skipped: list[dict[str, str]] = Field(description="series left out: uid, summary, reason")
    warnings: list[str]


class DictionaryImported(BaseModel):
    import_id: int | None
    dry_run: bool
    items: int
    categories: list[str]
    languages: list[str]
    warnings: list[str]


class ImportRecord(BaseModel):
    id: int
    at: CityTimestamp
    actor: str
    source: str
    zones: list[str]
    ok: bool
    error: str | None
    days: int
    report: dict[str, Any]


class SourceState(BaseModel):
    id: int
    zone: str
    url: str
    last_attempt_at: CityTimestamp | None
    last_success_at: CityTimestamp | None
    last_import_id: int | None
    last_error: str | None
    last_error_at: CityTimestamp | None
    consecutive_failures: int


class ImportHistory(BaseModel):
    imports: list[ImportRecord]
    sources: list[SourceState]


class DayPublic(BaseModel):
    id: int
    zone: str
    date: dt.date
    kinds: list[str]
    unmapped: list[str]
    notes: list[str]
    status: str
    reason: str | None
    moved_from: dt.date | None
    import_id: int | None
    created_at: CityTimestamp
    updated_at: CityTimestamp
    names: list[str] = Field(description="the kinds' names, for people")
    text: str = Field(description="the day in one line, as a reminder says it")


class DayChanged(BaseModel):
    zone: str
    date: dt.date
    status: str
    reason: str | None
    withdrawn_reminders: list[int]
    corrections: list[int] = Field(description="correction broadcasts to reminders sent")


class DayMoved(DayChanged):
    moved_from: dt.date


class CancelBody(BaseModel):
    reason: str = Field(min_length=1, max_length=150, examples=["台風のため"])


class MoveBody(BaseModel):
    to: date
    reason: str = Field(min_length=1, max_length=150, examples=["年末年始のため"])


def _zone(zone: str, settings: Settings) -> str:
    if zone not in settings.residents.zones:
        raise NotFound("not_found.zone", ident=zone, known="、".join(settings.residents.zones))
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
) -> CalendarImported:
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
    return CalendarImported.model_validate(result.as_dict())


async def _import_ical(
    session: Session,
    settings: Settings,
    actor: Actor,
    file: UploadFile,
    zone: str | None,
    dry_run: bool,
    strict: bool,
) -> CalendarImported:
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
) -> CalendarImported:
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
) -> DictionaryImported:
    data = await _read(file, settings)
    source = f"dictionary:{file.filename or 'dictionary.csv'}"

    def run() -> DictionaryImported:
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
        return DictionaryImported.model_validate(report)

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
) -> CalendarImported:
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
) -> CalendarImported:
    return await _import_ical(session, settings, actor, file, None, dry_run, strict)


@router.get("/imports", summary="Recent imports (with refusals) and the state of fetched sources")
def imports(
    session: SessionDep, actor: CurrentActor, limit: int = Query(20, ge=1, le=200)
) -> ImportHistory:
    del actor
    rows = session.exec(
        select(CalendarImport).order_by(col(CalendarImport.id).desc()).limit(limit)
    ).all()
    sources = session.exec(select(CalendarSource).order_by(col(CalendarSource.zone))).all()
    return ImportHistory(
        imports=[ImportRecord.model_validate(row.model_dump()) for row in rows],
        sources=[SourceState.model_validate(source.model_dump()) for source in sources],
    )


@router.get("/{zone}/days", summary="A zone's collection days")
def days(
    zone: str,
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> list[DayPublic]:
    del actor
    query = select(CollectionDay).where(CollectionDay.zone == _zone(zone, settings))
    if start:
        query = query.where(col(CollectionDay.date) >= start)
    if end:
        query = query.where(col(CollectionDay.date) <= end)
    table = kind_table(settings)
    return [
        DayPublic(
            **row.model_dump(),
            names=table.display(row.kinds, row.unmapped),
            text=table.text(row.kinds, row.unmapped, row.notes or []),
        )
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
) -> DayChanged:
    # A ChangeError is 404 or 422, a refused correction 422 (broadcaster.api.refusals);
    # the session dependency rolls back.
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
    return DayChanged.model_validate(result.as_dict())


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
) -> DayMoved:
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
    return DayMoved.model_validate({**result.as_dict(), "moved_from": day})


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
