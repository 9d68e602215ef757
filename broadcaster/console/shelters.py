"""Shelters on the desk (/console/emergency/shelters): per district, opened and closed
from the screen, and the 指定緊急避難場所 CSV imported, through the API's shelter code."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from broadcaster.api import shelters as api_shelters
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.api.refusals import as_domain_error
from broadcaster.console.desk import BASE, Desk, page
from broadcaster.console.web import Staff, redirect, refusal, require_csrf
from broadcaster.emergency.shelters import Shelter, ShelterImportError
from broadcaster.errors import Refused, TooLarge
from broadcaster.offload import off_loop
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


@router.get(f"{BASE}/shelters", response_class=HTMLResponse)
def shelters(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: Desk,
    district: str | None = None,
) -> Response:
    return _shelters(request, session, settings, staff, district)


def _shelters(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Staff,
    district: str | None = None,
    *,
    imported: api_shelters.ShelterImport | None = None,
    refused: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
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
        status_code,
        grouped=grouped,
        district=district or "",
        total=len(rows),
        imported=imported,
        refusal=refused,
    )


@router.post(f"{BASE}/shelters/import", response_class=HTMLResponse)
async def import_file(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Desk
) -> Response:
    """The 指定緊急避難場所 CSV: every row checked first (the API's import), then added or
    updated; a refusal lists the bad lines beside the file field and writes nothing."""
    form = await request.form()
    upload = form.get("file")
    limit = settings.limits.shelters_csv_bytes
    data = b""
    if isinstance(upload, UploadFile):
        data = await upload.read(limit + 1)
        await upload.close()
    error: Exception | None = None
    if len(data) > limit:
        error = TooLarge("body.too_large", limit=limit)
    elif not data:
        error = Refused("console.shelters.no_file")
    else:
        try:
            imported = await off_loop(
                api_shelters.import_csv, request.app.state.engine, settings, staff.actor, data
            )
        except ShelterImportError as exc:
            error = exc
        else:
            return _shelters(request, session, settings, staff, imported=imported)
    shown = refusal(error)
    found = as_domain_error(error)
    # The line problems are listed under the file field (the API names them file.line[i]).
    shown["lines"] = [m for path, m in shown["fields"].items() if path.startswith("file.")]
    shown["fields"] = {"file": shown["detail"]}
    status = found.kind.status if found is not None else 422
    return _shelters(request, session, settings, staff, refused=shown, status_code=status)


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
