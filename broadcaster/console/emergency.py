"""The disaster desk's orders (/console/emergency): the order form, its dry run, sending,
the order's page with live progress, its 【更新】 and its 解除, in large type for a clerk
under pressure and usable with the keyboard alone.

Each step is the API's own route (`broadcaster.api.emergencies`) called with the signed-in
person's `Actor` (`console.desk`), and the committed order is handed to the emergency lane
exactly as an API order is: what the desk sends is delivered the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, func, select

from broadcaster.api import emergencies as api
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.console.api_calls import refusal_of
from broadcaster.console.desk import BASE, Desk, attempt, open_counts, page, texts_of
from broadcaster.console.web import Staff, redirect, require_csrf
from broadcaster.emergency.models import DraftStatus, Emergency, EmergencyDraft, EmergencyStatus
from broadcaster.emergency.orders import order_broadcasts
from broadcaster.emergency.shelters import Shelter, open_shelters
from broadcaster.progress import delivery_counts_of
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
# A broadcast in one of these has nothing more to send: the progress stops refreshing.
FINAL = frozenset({"sent", "partially_failed", "failed", "cancelled", "expired"})


@dataclass
class OrderForm:
    """What the order form holds, as typed (also what it shows again after a refusal)."""

    level: str = ""
    kind: str = ""
    districts: list[str] = field(default_factory=list)
    text: str = ""
    texts: dict[str, str] = field(default_factory=dict)
    drill: bool = False
    hold_routine: bool = True

    @classmethod
    def of(cls, form: Mapping[str, Any], getlist: Callable[[str], list[Any]]) -> OrderForm:
        return cls(
            level=str(form.get("level", "")).strip(),
            kind=str(form.get("kind", "")).strip(),
            districts=[str(d) for d in getlist("districts")],
            text=str(form.get("text", "")).strip(),
            texts=texts_of(form),
            drill=form.get("drill") == "on",
            hold_routine=form.get("hold_routine") == "on",
        )

    def body(self, dry_run: bool) -> api.OrderIn:
        """The API's request body (validated by its model; ValidationError otherwise)."""
        return api.OrderIn(
            level=int(self.level) if self.level.isdigit() else 0,
            districts=self.districts,
            kind=self.kind,
            text=self.text,
            texts=dict(self.texts),
            drill=self.drill,
            hold_routine=self.hold_routine,
            dry_run=dry_run,
        )


def _desk(
    request: Request,
    session: Session,
    staff: Staff,
    form: OrderForm,
    refused: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    active = session.exec(
        select(Emergency)
        .where(Emergency.status == EmergencyStatus.active)
        .order_by(col(Emergency.drill), col(Emergency.created_at).desc())
        .limit(50)
    ).all()
    recent = session.exec(
        select(Emergency)
        .where(Emergency.status == EmergencyStatus.lifted)
        .order_by(col(Emergency.created_at).desc())
        .limit(10)
    ).all()
    drafts = session.exec(
        select(func.count())
        .select_from(EmergencyDraft)
        .where(EmergencyDraft.status == DraftStatus.open)
    ).one()
    return page(
        request,
        staff,
        "emergency.html",
        status_code,
        form=form,
        refusal=refused,
        active=active,
        recent=recent,
        open_drafts=drafts,
        open_counts=open_counts(session),
    )


@router.get(BASE, response_class=HTMLResponse)
def desk(request: Request, session: SessionDep, staff: Desk) -> Response:
    return _desk(request, session, staff, OrderForm())


@router.post(f"{BASE}/edit", response_class=HTMLResponse)
async def edit(request: Request, session: SessionDep, staff: Desk) -> Response:
    """Back from the dry run to the form, with what was typed."""
    form = await request.form()
    return _desk(request, session, staff, OrderForm.of(form, form.getlist))


@router.post(f"{BASE}/dry-run", response_class=HTMLResponse)
async def dry_run(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Desk
) -> Response:
    """Who the order would reach, per district and language, and where no shelter is open:
    the API's dry run (nothing written); then the confirm button."""
    form, result = await _order(request, session, settings, staff, dry_run=True)
    if isinstance(result, Response):
        return result
    by_district = open_shelters(session, form.districts, form.kind)
    languages = sorted(
        {lang for entry in result["districts"].values() for lang in entry["languages"]},
        key=lambda code: (
            list(settings.residents.languages).index(code)
            if code in settings.residents.languages
            else 99
        ),
    )
    return page(
        request,
        staff,
        "emergency_dry_run.html",
        form=form,
        result=result,
        shelters=by_district,
        result_languages=languages,
    )


@router.post(BASE, response_class=HTMLResponse)
async def issue(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Desk
) -> Response:
    """Send the order: the API's create route, so it is delivered exactly as an API order."""
    _, result = await _order(request, session, settings, staff, dry_run=False)
    if isinstance(result, Response):
        return result
    return redirect(f"{BASE}/{result['id']}")


async def _order(
    request: Request, session: Session, settings: Settings, staff: Staff, *, dry_run: bool
) -> tuple[OrderForm, dict[str, Any] | Response]:
    """The posted order through the API's create route: its answer, or the desk page
    showing the refusal (422, nothing written)."""
    raw = await request.form()
    form = OrderForm.of(raw, raw.getlist)
    result = attempt(
        session,
        lambda: api.create_emergency(
            form.body(dry_run=dry_run), request, Response(), session, settings, staff.actor
        ),
    )
    refused = refusal_of(result)
    if refused is not None:
        return form, _desk(request, session, staff, form, refused, 422)
    assert isinstance(result, dict)
    return form, result


def _emergency(session: Session, emergency_id: int) -> Emergency:
    emergency = session.get(Emergency, emergency_id)
    if emergency is None:
        raise HTTPException(404)
    return emergency


def _progress(session: Session, emergency: Emergency) -> dict[str, Any]:
    """The order's broadcasts (original, 【更新】, 解除) with delivery counts, one query."""
    broadcasts = order_broadcasts(session, emergency)
    counts = delivery_counts_of(session, [b.id for b in broadcasts if b.id is not None])
    rows: list[dict[str, Any]] = []
    for b in broadcasts:
        assert b.id is not None
        shown = {k: v for k, v in counts.get(b.id, {}).items() if v}
        rows.append({"broadcast": b, "counts": shown, "total": sum(shown.values())})
    final = all(
        row["broadcast"].status in FINAL and not row["counts"].get("queued") for row in rows
    )
    return {"rows": rows, "final": final}


def _detail(
    request: Request,
    session: Session,
    staff: Staff,
    emergency: Emergency,
    refused: dict[str, Any] | None = None,
    which: str = "",
    status_code: int = 200,
    typed: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    return page(
        request,
        staff,
        "emergency_detail.html",
        status_code,
        emergency=emergency,
        progress=_progress(session, emergency),
        refusal=refused,
        which=which,
        typed=typed or {},
        texts=texts_of(typed or {}),
        closed_shelters=session.exec(
            select(Shelter)
            .where(
                col(Shelter.is_open).is_(False),
                col(Shelter.district).in_(list(emergency.districts)),
            )
            .order_by(col(Shelter.district), col(Shelter.name))
        ).all(),
    )


@router.get(BASE + "/{emergency_id:int}", response_class=HTMLResponse)
def detail(request: Request, emergency_id: int, session: SessionDep, staff: Desk) -> Response:
    return _detail(request, session, staff, _emergency(session, emergency_id))


@router.get(BASE + "/{emergency_id:int}/progress", response_class=HTMLResponse)
def progress(request: Request, emergency_id: int, session: SessionDep, staff: Desk) -> Response:
    """The live progress fragment (`data-refresh`); `data-final` once nothing is left."""
    emergency = _emergency(session, emergency_id)
    return page(
        request,
        staff,
        "_emergency_progress.html",
        emergency=emergency,
        progress=_progress(session, emergency),
    )


@router.post(BASE + "/{emergency_id:int}/updates", response_class=HTMLResponse)
async def update(
    request: Request, emergency_id: int, session: SessionDep, settings: SettingsDep, staff: Desk
) -> Response:
    """【更新】 to the same recipients (the API's update route)."""
    emergency = _emergency(session, emergency_id)
    form = await request.form()
    level = str(form.get("level", "")).strip()
    opened = [int(str(s)) for s in form.getlist("open_shelters") if str(s).isdigit()]
    result = attempt(
        session,
        lambda: api.update_emergency(
            emergency_id,
            api.UpdateIn(
                level=int(level) if level.isdigit() else None,
                text=str(form.get("text", "")).strip(),
                texts=texts_of(form),
                open_shelters=opened,
            ),
            request,
            session,
            settings,
            staff.actor,
        ),
    )
    refused = refusal_of(result)
    if refused is not None:
        session.refresh(emergency)
        return _detail(request, session, staff, emergency, refused, "update", 422, form)
    return redirect(f"{BASE}/{emergency_id}")


@router.post(BASE + "/{emergency_id:int}/lift", response_class=HTMLResponse)
async def lift(
    request: Request, emergency_id: int, session: SessionDep, settings: SettingsDep, staff: Desk
) -> Response:
    """解除, told to the same recipients (the API's lift route)."""
    emergency = _emergency(session, emergency_id)
    form = await request.form()
    result = attempt(
        session,
        lambda: api.lift_emergency(
            emergency_id,
            request,
            session,
            settings,
            staff.actor,
            api.LiftIn(text=str(form.get("text", "")).strip(), texts=texts_of(form)),
        ),
    )
    refused = refusal_of(result)
    if refused is not None:
        session.refresh(emergency)
        return _detail(request, session, staff, emergency, refused, "lift", 422, form)
    return redirect(f"{BASE}/{emergency_id}")
