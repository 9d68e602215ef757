"""The disaster desk's shelters (/console/emergency/shelters): the registry by district,
開設 / 閉鎖 in one click, importing the city's 指定緊急避難場所 CSV, and adding one
shelter by hand.

Each change is the API's own code with the signed-in person's `Actor`: open and close
are its routes, adding is its create route, and the upload goes through `import_csv`,
what POST /api/v1/shelters/import calls. So the CSV is checked line by line the same way,
and a file with one bad line writes nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import FormData, UploadFile

from broadcaster.api import shelters as api
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.catalog import text as catalog_text
from broadcaster.console.api_calls import refusal_of
from broadcaster.console.desk import BASE, Desk, attempt, page
from broadcaster.console.web import Staff, redirect, refusal, require_csrf
from broadcaster.emergency.shelters import Shelter, ShelterImportError
from broadcaster.offload import off_loop
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
SHELTERS = f"{BASE}/shelters"
# What the add form posts, as typed (shown again after a refusal).
ADD_FIELDS = ("name", "address", "district", "latitude", "longitude", "capacity")


def _page(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Staff,
    district: str = "",
    status_code: int = 200,
    **context: Any,
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
    context.setdefault("refusal", None)
    context.setdefault("which", "")
    context.setdefault("typed", {})
    context.setdefault("problems", [])
    return page(
        request,
        staff,
        "emergency_shelters.html",
        status_code,
        grouped=grouped,
        district=district,
        total=len(rows),
        **context,
    )


@router.get(SHELTERS, response_class=HTMLResponse)
def shelters(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: Desk,
    district: str | None = None,
    created: int | None = None,
    updated: int | None = None,
    added: str | None = None,
) -> Response:
    imported = None if created is None else {"created": created, "updated": updated or 0}
    return _page(request, session, settings, staff, district or "", imported=imported, added=added)


def _file_refusal(code: str, **params: Any) -> dict[str, Any]:
    """A refusal of the upload, its message next to the file field."""
    return {
        "detail": catalog_text("console.shelters.unchanged", "ja") or "",
        "fields": {"file": catalog_text(code, "ja", params) or code},
    }


@router.post(f"{SHELTERS}/import", response_class=HTMLResponse)
async def import_file(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Desk
) -> Response:
    """The uploaded CSV through the API's import: every line checked before anything is
    written; a refusal lists the bad lines beside the file field (422, nothing written)."""
    form = await request.form()
    upload = form.get("file")
    data = b""
    if isinstance(upload, UploadFile):
        limit = settings.limits.shelters_csv_bytes
        data = await upload.read(limit + 1)
        await upload.close()
        if len(data) > limit:
            refused = _file_refusal("body.too_large", limit=limit)
            return _page(request, session, settings, staff, "", 413, refusal=refused)
    if not data:
        refused = _file_refusal("console.shelters.no_file")
        return _page(request, session, settings, staff, "", 422, refusal=refused)
    engine = request.app.state.engine
    try:
        result = await off_loop(api.import_csv, engine, settings, staff.actor, data)
    except ShelterImportError as exc:
        shown = refusal(exc)
        refused = {
            "detail": shown["detail"],
            "fields": {"file": catalog_text("console.shelters.file", "ja") or shown["detail"]},
        }
        problems = [m for path, m in shown["fields"].items() if path.startswith("file.line")]
        more = len(exc.problems) - len(problems)
        return _page(
            request,
            session,
            settings,
            staff,
            "",
            422,
            refusal=refused,
            which="import",
            problems=problems,
            more_problems=more,
        )
    return redirect(f"{SHELTERS}?created={result.created}&updated={result.updated}#imported")


def _typed(form: FormData) -> dict[str, Any]:
    typed: dict[str, Any] = {name: str(form.get(name, "")).strip() for name in ADD_FIELDS}
    typed["kinds"] = [str(k) for k in form.getlist("kinds")]
    return typed


@router.post(f"{SHELTERS}/new", response_class=HTMLResponse)
async def add(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Desk
) -> Response:
    """One shelter by hand (the API's create route), closed until the desk opens it."""
    typed = _typed(await request.form())
    body = {k: v for k, v in typed.items() if v not in ("", [])} | {"kinds": typed["kinds"]}
    result = attempt(
        session,
        lambda: api.create_shelter(
            api.ShelterIn.model_validate(body), session, settings, staff.actor
        ),
    )
    refused = refusal_of(result)
    if refused is not None:
        return _page(
            request, session, settings, staff, "", 422, refusal=refused, which="add", typed=typed
        )
    assert isinstance(result, dict)
    return redirect(f"{SHELTERS}?added={result['id']}#shelter-{result['id']}")


@router.post(SHELTERS + "/{shelter_id:int}/{action}", response_class=HTMLResponse)
async def open_close(
    request: Request, shelter_id: int, action: str, session: SessionDep, staff: Desk
) -> Response:
    """開設 / 閉鎖 (the API's open and close routes), back to where the desk was."""
    if action == "open":
        api.open_shelter(shelter_id, session, staff.actor)
    elif action == "close":
        api.close_shelter(shelter_id, session, staff.actor)
    else:
        raise HTTPException(404)
    form = await request.form()
    back = str(form.get("back", ""))
    if not back.startswith(BASE):
        back = SHELTERS
    return redirect(f"{back}#shelter-{shelter_id}")
