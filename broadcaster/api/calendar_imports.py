"""Garbage calendar imports over HTTP: a zone's iCal file, a file naming its zones, a 5374
data set, the sorting dictionary, and the history of imports (refusals included) with the
state of fetched sources.

Only the calendar's owner may import (`broadcaster.api.calendars.OwnerDep`). An upload is
read up to the configured limit, then parsed off the event loop: a large calendar takes
seconds to expand. A refused file is recorded (unless a dry run) so staff see why the
calendar did not change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from broadcaster.api.calendars import OwnerDep, known_zone
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.auth import Actor, CurrentActor
from broadcaster.clock import utcnow
from broadcaster.errors import TooLarge
from broadcaster.garbage.days import CalendarError
from broadcaster.garbage.importer import (
    ImportResult,
    import_5374,
    import_calendar,
    record_refusal,
)
from broadcaster.garbage.models import CalendarImport, CalendarSource
from broadcaster.garbage.sorting import import_dictionary
from broadcaster.offload import off_loop
from broadcaster.settings import Settings
from broadcaster.timestamps import CityTimestamp

router = APIRouter(prefix="/calendars", tags=["garbage calendar"])


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
        session, settings, actor, file, known_zone(zone, settings), dry_run, strict
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
