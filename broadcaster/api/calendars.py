"""Garbage calendars over HTTP: a zone's days, cancelling or moving one, and the public iCal
export (imports are `broadcaster.api.calendar_imports`).

Who may change a calendar: the configured garbage department (garbage.department, 環境課 by
default) and admins. Everyone else gets 403: the calendar decides what every resident of a
zone is told, so it has one owner.
"""

from __future__ import annotations

import datetime as dt
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlmodel import col, select

from broadcaster.api.deps import RendererDep, SessionDep, SettingsDep
from broadcaster.auth import Actor, CurrentActor
from broadcaster.clock import utcnow
from broadcaster.departments import Role
from broadcaster.errors import Forbidden, NotFound
from broadcaster.garbage.changes import cancel_day, move_day
from broadcaster.garbage.export import export_calendar
from broadcaster.garbage.kinds import kind_table
from broadcaster.garbage.models import CollectionDay
from broadcaster.settings import Settings
from broadcaster.timestamps import CityTimestamp

router = APIRouter(prefix="/calendars", tags=["garbage calendar"])
export_router = APIRouter(tags=["garbage calendar"])


def calendar_owner(actor: CurrentActor, settings: SettingsDep) -> Actor:
    if actor.role != Role.admin and actor.department_name != settings.garbage.department:
        raise Forbidden("calendar.owner_only", department=settings.garbage.department)
    return actor


OwnerDep = Annotated[Actor, Depends(calendar_owner)]


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


def known_zone(zone: str, settings: Settings) -> str:
    """`zone` if it is configured; NotFound (naming the zones there are) otherwise."""
    if zone not in settings.residents.zones:
        raise NotFound("not_found.zone", ident=zone, known="、".join(settings.residents.zones))
    return zone


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
    query = select(CollectionDay).where(CollectionDay.zone == known_zone(zone, settings))
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
        zone=known_zone(zone, settings),
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
        zone=known_zone(zone, settings),
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
    body = export_calendar(session, known_zone(zone, settings), settings, utcnow())
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="garbage-{zone}.ics"'},
    )
