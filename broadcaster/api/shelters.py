"""`/api/v1/shelters`: the shelter registry. Any token reads; the disaster desk and admins
edit, import the open-data CSV, and open or close a shelter in one call."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from broadcaster import audit
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.auth import Actor, CurrentActor, DisasterDeskActor
from broadcaster.clock import utcnow
from broadcaster.emergency.shelters import (
    DISASTER_KINDS,
    Shelter,
    apply_rows,
    decode_csv,
    parse_shelter_csv,
    set_open,
    shelter_public,
)
from broadcaster.errors import Conflict, FieldError, Refused, TooLarge, not_found
from broadcaster.inputs import Id
from broadcaster.offload import off_loop
from broadcaster.settings import Settings
from broadcaster.timestamps import CityTimestamp

router = APIRouter(prefix="/shelters", tags=["shelters"])
# A city's shelter list is a few hundred rows; far more is a wrong file.


class ShelterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=300)
    district: str
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    capacity: int | None = Field(default=None, ge=0)
    kinds: list[str] = Field(default_factory=list)


class ShelterPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    address: str | None = Field(default=None, min_length=1, max_length=300)
    district: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    capacity: int | None = Field(default=None, ge=0)
    kinds: list[str] | None = None


class ShelterPublic(BaseModel):
    id: int
    name: str
    address: str
    district: str
    latitude: float
    longitude: float
    capacity: int | None
    kinds: list[str]
    is_open: bool
    opened_at: CityTimestamp | None
    closed_at: CityTimestamp | None


class ShelterList(BaseModel):
    shelters: list[ShelterPublic]


class ShelterImport(BaseModel):
    created: int
    updated: int


def _out(shelter: Shelter) -> ShelterPublic:
    return ShelterPublic.model_validate(shelter_public(shelter))


def _check(settings: Settings, district: str | None, kinds: list[str] | None) -> None:
    if district is not None and district not in settings.residents.districts:
        raise Refused(
            "district.unknown",
            errors=[FieldError("district", code="district.unknown", params={"value": district})],
            value=district,
        )
    unknown = [k for k in kinds or [] if k not in DISASTER_KINDS]
    if unknown:
        value, known = ", ".join(unknown), ", ".join(DISASTER_KINDS)
        params = {"value": value, "known": known}
        raise Refused(
            "shelter.unknown_kind",
            errors=[FieldError("kinds", code="shelter.unknown_kind", params=params)],
            value=value,
            known=known,
        )


def _shelter(session: Session, shelter_id: Id) -> Shelter:
    shelter = session.get(Shelter, shelter_id)
    if shelter is None:
        raise not_found("shelter", shelter_id)
    return shelter


@router.get("", summary="Shelters, filtered by district, disaster kind or open state")
def list_shelters(
    session: SessionDep,
    actor: CurrentActor,
    district: str | None = None,
    kind: str | None = None,
    is_open: Annotated[bool | None, Query(alias="open")] = None,
) -> ShelterList:
    query = select(Shelter).order_by(col(Shelter.district), col(Shelter.name))
    if district:
        query = query.where(Shelter.district == district)
    if is_open is not None:
        query = query.where(col(Shelter.is_open).is_(is_open))
    rows = [s for s in session.exec(query).all() if kind is None or kind in s.kinds]
    return ShelterList(shelters=[_out(s) for s in rows])


@router.post("", status_code=201, summary="Add a shelter")
def create_shelter(
    body: ShelterIn, session: SessionDep, settings: SettingsDep, actor: DisasterDeskActor
) -> ShelterPublic:
    _check(settings, body.district, body.kinds)
    now = utcnow()
    shelter = Shelter(**body.model_dump(), created_at=now, updated_at=now)
    shelter.kinds = [k for k in DISASTER_KINDS if k in body.kinds]
    session.add(shelter)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("shelter.exists") from None
    audit.record(
        session,
        at=now,
        actor=actor.label,
        action="shelter.create",
        entity="shelter",
        entity_id=shelter.id,
        department_id=actor.department_id,
        after=shelter_public(shelter),
    )
    session.commit()
    return _out(shelter)


@router.post("/import", summary="Import the 指定緊急避難場所 CSV (all rows checked first)")
async def import_shelters(
    request: Request, settings: SettingsDep, actor: DisasterDeskActor
) -> ShelterImport:
    data = bytearray()
    async for chunk in request.stream():
        data.extend(chunk)
        if len(data) > settings.limits.shelters_csv_bytes:
            raise TooLarge("body.too_large", limit=settings.limits.shelters_csv_bytes)
    # Parsing and applying the CSV happen off the event loop; ShelterImportError is a 422
    # listing every bad line (broadcaster.api.refusals).
    return await off_loop(import_csv, request.app.state.engine, settings, actor, bytes(data))


def import_csv(engine: Engine, settings: Settings, actor: Actor, data: bytes) -> ShelterImport:
    """The whole import (decode, check every line, upsert, audit) in its own transaction;
    raises ShelterImportError, writing nothing, when any line is bad. The console's upload
    calls this too (off the event loop), so both import the same way."""
    rows = parse_shelter_csv(
        decode_csv(data),
        districts=settings.residents.districts,
        district_column=settings.emergency.shelter_district_column,
        district_values=settings.emergency.shelter_district_values,
    )
    now = utcnow()
    with Session(engine, expire_on_commit=False) as session:
        result = apply_rows(session, rows, now)
        audit.record(
            session,
            at=now,
            actor=actor.label,
            action="shelter.import",
            entity="shelter",
            department_id=actor.department_id,
            after={"created": result.created, "updated": result.updated},
        )
        session.commit()
    return ShelterImport(created=result.created, updated=result.updated)


@router.get("/{shelter_id}", summary="One shelter")
def get_shelter(shelter_id: Id, session: SessionDep, actor: CurrentActor) -> ShelterPublic:
    return _out(_shelter(session, shelter_id))


@router.patch("/{shelter_id}", summary="Change a shelter")
def update_shelter(
    shelter_id: Id,
    body: ShelterPatch,
    session: SessionDep,
    settings: SettingsDep,
    actor: DisasterDeskActor,
) -> ShelterPublic:
    shelter = _shelter(session, shelter_id)
    changes = body.model_dump(exclude_unset=True)
    _check(settings, changes.get("district"), changes.get("kinds"))
    before = shelter_public(shelter)
    for name, value in changes.items():
        setattr(shelter, name, value)
    if "kinds" in changes:
        shelter.kinds = [k for k in DISASTER_KINDS if k in changes["kinds"]]
    now = utcnow()
    shelter.updated_at = now
    session.add(shelter)
    audit.record(
        session,
        at=now,
        actor=actor.label,
        action="shelter.update",
        entity="shelter",
        entity_id=shelter.id,
        department_id=actor.department_id,
        before=before,
        after=shelter_public(shelter),
    )
    session.commit()
    return _out(shelter)


@router.delete("/{shelter_id}", status_code=204, summary="Remove a shelter")
def delete_shelter(shelter_id: Id, session: SessionDep, actor: DisasterDeskActor) -> None:
    shelter = _shelter(session, shelter_id)
    now = utcnow()
    audit.record(
        session,
        at=now,
        actor=actor.label,
        action="shelter.delete",
        entity="shelter",
        entity_id=shelter.id,
        department_id=actor.department_id,
        before=shelter_public(shelter),
    )
    session.delete(shelter)
    session.commit()


def _open_close(session: Session, shelter_id: Id, is_open: bool, actor: Any) -> ShelterPublic:
    shelter = _shelter(session, shelter_id)
    now = utcnow()
    if set_open(shelter, is_open, now):
        session.add(shelter)
        audit.record(
            session,
            at=now,
            actor=actor.label,
            action="shelter.open" if is_open else "shelter.close",
            entity="shelter",
            entity_id=shelter.id,
            department_id=actor.department_id,
        )
        session.commit()
    return _out(shelter)


@router.post("/{shelter_id}/open", summary="Open a shelter (開設)")
def open_shelter(shelter_id: Id, session: SessionDep, actor: DisasterDeskActor) -> ShelterPublic:
    return _open_close(session, shelter_id, True, actor)


@router.post("/{shelter_id}/close", summary="Close a shelter (閉鎖)")
def close_shelter(shelter_id: Id, session: SessionDep, actor: DisasterDeskActor) -> ShelterPublic:
    return _open_close(session, shelter_id, False, actor)
