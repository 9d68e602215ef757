"""Residents' data rights over the API (admins only): export one resident, erase one.

The LINE user id travels in the JSON body, never in the URL, which proxies and access
logs keep.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from broadcaster.api.deps import SessionDep
from broadcaster.auth import AdminActor
from broadcaster.clock import utcnow
from broadcaster.errors import Conflict, NotFound
from broadcaster.privacy import ErasureDeferred, UnknownResident, erase_resident, export_resident
from broadcaster.timestamps import CityTimestamp

router = APIRouter(prefix="/privacy", tags=["privacy"])


class ResidentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_user_id: str = Field(min_length=1, max_length=64)


class ReceivedMessage(BaseModel):
    broadcast_id: int
    title: str
    category: str
    sent_at: CityTimestamp
    status: str
    accepted_at: CityTimestamp | None


class ResidentExport(BaseModel):
    """Everything stored about one resident (its moments in the city's zone)."""

    exported_at: CityTimestamp
    resident: dict[str, Any]
    interests: list[str]
    opted_out_of: list[str]
    verified_attributes: list[dict[str, Any]]
    messages: list[ReceivedMessage]


class Erased(BaseModel):
    resident_id: int
    erased: bool = True


@router.post("/export", summary="Everything stored about one resident (audited)")
def export(body: ResidentRef, actor: AdminActor, session: SessionDep) -> ResidentExport:
    try:
        data = export_resident(session, body.line_user_id, actor=actor.label, now=utcnow())
    except UnknownResident as exc:
        raise NotFound("not_found.resident", str(exc)) from None
    session.commit()
    return ResidentExport.model_validate(data)


@router.post("/erase", summary="Erase one resident's identity and choices (audited)")
def erase(body: ResidentRef, actor: AdminActor, session: SessionDep) -> Erased:
    try:
        resident_id = erase_resident(session, body.line_user_id, actor=actor.label, now=utcnow())
    except UnknownResident as exc:
        raise NotFound("not_found.resident", str(exc)) from None
    except ErasureDeferred as exc:
        raise Conflict("privacy.erasure_deferred", str(exc)) from None
    session.commit()
    return Erased(resident_id=resident_id)
