"""Shelters on the desk (/console/emergency/shelters): per district, opened and closed
from the screen, and the 指定緊急避難場所 CSV imported, through the API's shelter routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from broadcaster.api import shelters as api_shelters
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.console.desk import (
    BASE,
    Desk,
    page,
)
from broadcaster.console.web import redirect, require_csrf
from broadcaster.emergency.shelters import Shelter

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])

@router.get(f"{BASE}/shelters", response_class=HTMLResponse)
def shelters(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: Desk,
    district: str | None = None,
) -> Response:
    query = select(Shelter).order_by(col(Shelter.district), col(Shelter.name))
    if district:
        query = query.where(Shelter.district == district)
    rows = session.exec(query).all()
    grouped: dict[str, list[Shelter]] = {d: [] for d in settings.residents.districts}
    for shelter in rows:
        grouped.setdefault(shelter.district, []).append(shelter)
    if district:
        grouped = {district: grouped.get(district, [])}
    return page(
        request,
        staff,
        "emergency_shelters.html",
        grouped=grouped,
        district=district or "",
        total=len(rows),
    )


@router.post(BASE + "/shelters/{shelter_id:int}/{action}", response_class=HTMLResponse)
async def open_close(
    request: Request, shelter_id: int, action: str, session: SessionDep, staff: Desk
) -> Response:
    """開設 / 閉鎖 (the API's open and close routes), back to where the desk was."""
    if action == "open":
        api_shelters.open_shelter(shelter_id, session, staff.actor)
    elif action == "close":
        api_shelters.close_shelter(shelter_id, session, staff.actor)
    else:
        raise HTTPException(404)
    form = await request.form()
    back = str(form.get("back", ""))
    if not back.startswith(BASE):
        back = f"{BASE}/shelters"
    return redirect(f"{back}#shelter-{shelter_id}")
