"""`/console/residents`: how many residents follow the account, by district and language."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import select

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.console.web import ConsoleStaff, render
from segments.residents import Resident

router = APIRouter(include_in_schema=False)


@router.get("/console/residents", response_class=HTMLResponse)
def residents(
    request: Request, session: SessionDep, settings: SettingsDep, staff: ConsoleStaff
) -> Response:
    by_state = dict(
        session.exec(
            select(Resident.follow_state, sa.func.count()).group_by(Resident.follow_state)
        ).all()
    )
    following = Resident.follow_state == "following"
    by_district = dict(
        session.exec(
            select(Resident.district, sa.func.count()).where(following).group_by(Resident.district)
        ).all()
    )
    by_language = dict(
        session.exec(
            select(Resident.language, sa.func.count()).where(following).group_by(Resident.language)
        ).all()
    )
    return render(
        request,
        "residents.html",
        staff,
        by_state=by_state,
        by_district=by_district,
        by_language=by_language,
        districts=settings.residents.districts,
    )
