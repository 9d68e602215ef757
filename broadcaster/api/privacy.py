"""Residents' data rights over the API (admins only): export one resident, erase one.

The LINE user id travels in the JSON body, never in the URL, which proxies and access
logs keep.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from broadcaster.api.deps import SessionDep
from broadcaster.auth import AdminActor
from broadcaster.clock import utcnow
from broadcaster.privacy import ErasureDeferred, UnknownResident, erase_resident, export_resident

router = APIRouter(prefix="/privacy", tags=["privacy"])


class ResidentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_user_id: str = Field(min_length=1, max_length=64)


class Erased(BaseModel):
    resident_id: int
    erased: bool = True


@router.post("/export", summary="Everything stored about one resident (audited)")
def export(body: ResidentRef, actor: AdminActor, session: SessionDep) -> dict[str, Any]:
    try:
        data = export_resident(session, body.line_user_id, actor=actor.label, now=utcnow())
    except UnknownResident as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    session.commit()
    return data


@router.post("/erase", summary="Erase one resident's identity and choices (audited)")
def erase(body: ResidentRef, actor: AdminActor, session: SessionDep) -> Erased:
    try:
        resident_id = erase_resident(session, body.line_user_id, actor=actor.label, now=utcnow())
    except UnknownResident as exc:
        session.rollback()
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ErasureDeferred as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.commit()
    return Erased(resident_id=resident_id)
