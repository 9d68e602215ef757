"""The disaster desk (/console/emergency): orders, their updates and 解除, the alert inbox,
and shelters, in large type for a clerk under pressure and usable with the keyboard alone.

Every change goes through the API's own route functions (`broadcaster.api.emergencies`,
`broadcaster.api.shelters`), called with the signed-in person's `Actor`: the request body is
validated by the same pydantic model, the order is issued by the same domain code, and the
committed order is handed to the emergency lane (`app.state.emergency_lane.submit`) exactly
as an API order is. So the console can send nothing the API would refuse, and what it sends
is delivered the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel import Session, col, func, select

from broadcaster.api import emergencies as api
from broadcaster.api import shelters as api_shelters
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.api.problems import validation_error
from broadcaster.api.refusals import as_domain_error
from broadcaster.broadcasts import Broadcast
from broadcaster.catalog import text as catalog_text
from broadcaster.console.web import Staff, redirect, refusal, render, require_csrf, requires
from broadcaster.departments import Role
from broadcaster.emergency.feeds import feed_status
from broadcaster.emergency.models import (
    AlertRecord,
    DraftStatus,
    Emergency,
    EmergencyDraft,
    EmergencyStatus,
)
from broadcaster.emergency.orders import LEVEL_LABELS, level_label
from broadcaster.emergency.shelters import DISASTER_KINDS, Shelter, open_shelters
from broadcaster.errors import DomainError
from broadcaster.progress import delivery_counts_of
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
Desk = Annotated[Staff, Depends(requires(Role.disaster_desk, Role.admin))]
BASE = "/console/emergency"
JAPANESE = ("ja", "easy-ja")
LANGUAGE_LABELS = {
    "ja": "日本語",
    "easy-ja": "やさしい日本語",
    "en": "英語",
    "zh": "中国語",
    "ko": "韓国語",
    "vi": "ベトナム語",
    "pt": "ポルトガル語",
    "tl": "タガログ語",
    "ne": "ネパール語",
    "id": "インドネシア語",
}
DELIVERY_LABELS = {
    "queued": "送信待ち",
    "accepted": "LINE受付済",
    "failed": "失敗",
    "unknown": "結果不明(要確認)",
    "skipped_cap": "上限超過で省略",
    "digested": "まとめ配信へ",
}
STATUS_LABELS = {
    "scheduled": "送信準備中",
    "sending": "配信中",
    "sent": "配信完了",
    "partially_failed": "一部失敗",
    "failed": "失敗(配信できず)",
    "cancelled": "取消",
    "expired": "期限切れ",
    "held": "保留",
}
# A broadcast in one of these has nothing more to send: the progress stops refreshing.
FINAL = frozenset({"sent", "partially_failed", "failed", "cancelled", "expired"})
# The parts of an order a refusal can name, with the desk's own Japanese message (the
# domain's messages are for the API's developers).
FIELD_CODES = {
    "level": "console.emergency.level",
    "districts": "console.emergency.districts",
    "kind": "console.emergency.kind",
    "text": "console.emergency.text",
    "texts": "console.emergency.texts",
}
T = TypeVar("T")


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
        texts = {
            str(name)[len("texts.") :]: str(value)
            for name, value in form.items()
            if str(name).startswith("texts.")
        }
        return cls(
            level=str(form.get("level", "")).strip(),
            kind=str(form.get("kind", "")).strip(),
            districts=[str(d) for d in getlist("districts")],
            text=str(form.get("text", "")).strip(),
            texts={k: v.strip() for k, v in texts.items()},
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
            texts={k: v for k, v in self.texts.items() if v},
            drill=self.drill,
            hold_routine=self.hold_routine,
            dry_run=dry_run,
        )


def attempt(session: Session, call: Callable[[], T]) -> T | dict[str, Any]:
    """Run one API call; a refusal rolls back and comes back as the console's refusal
    (with the desk's Japanese message per field)."""
    try:
        answer = call()
        # The API's routes answer response models; pages read them as plain data.
        return answer.model_dump() if isinstance(answer, BaseModel) else answer  # type: ignore[return-value]
    except ValidationError as exc:
        error: DomainError | None = validation_error(exc.errors())
    except Exception as exc:  # refusals are answered; anything else is re-raised
        error = as_domain_error(exc)
        if error is None:
            session.rollback()
            raise
    session.rollback()
    assert error is not None
    shown = refusal(error)
    fields: dict[str, str] = {}
    for path, message in shown["fields"].items():
        top = path.split(".")[0]
        code = FIELD_CODES.get(top)
        fields[top if code else path] = (code and catalog_text(code, "ja")) or message
    return {"detail": shown["detail"], "fields": fields}


def _refused(result: object) -> dict[str, Any] | None:
    return result if isinstance(result, dict) and "fields" in result else None


def _languages(settings: Settings) -> list[tuple[str, str]]:
    return [
        (code, LANGUAGE_LABELS.get(code, code))
        for code in settings.residents.languages
        if code not in JAPANESE
    ]


def _page(request: Request, staff: Staff, name: str, status_code: int = 200, **context: Any):
    settings: Settings = request.app.state.settings
    return render(
        request,
        name,
        staff,
        status_code=status_code,
        level_labels=LEVEL_LABELS,
        level_label=level_label,
        kinds=DISASTER_KINDS,
        districts=settings.residents.districts,
        languages=_languages(settings),
        language_labels=LANGUAGE_LABELS,
        delivery_labels=DELIVERY_LABELS,
        status_labels=STATUS_LABELS,
        tab=name,
        **context,
    )


def _open_counts(session: Session, kind: str | None = None) -> dict[str, int]:
    """Open shelters per district (for `kind` when given); a few hundred rows at most."""
    counts: dict[str, int] = {}
    for district, kinds in session.exec(
        select(Shelter.district, Shelter.kinds).where(col(Shelter.is_open).is_(True))
    ).all():
        if kind is None or kind in kinds:
            counts[district] = counts.get(district, 0) + 1
    return counts


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
    return _page(
        request,
        staff,
        "emergency.html",
        status_code,
        form=form,
        refusal=refused,
        active=active,
        recent=recent,
        open_drafts=drafts,
        open_counts=_open_counts(session),
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
    return _page(
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
    refused = _refused(result)
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
    broadcasts = session.exec(
        select(Broadcast)
        .where(
            (col(Broadcast.id) == emergency.broadcast_id)
            | (col(Broadcast.parent_id) == emergency.broadcast_id)
        )
        .order_by(col(Broadcast.id))
    ).all()
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
    return _page(
        request,
        staff,
        "emergency_detail.html",
        status_code,
        emergency=emergency,
        progress=_progress(session, emergency),
        refusal=refused,
        which=which,
        typed=typed or {},
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
    return _page(
        request,
        staff,
        "_emergency_progress.html",
        emergency=emergency,
        progress=_progress(session, emergency),
    )


def _texts(form: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(k)[len("texts.") :]: str(v).strip()
        for k, v in form.items()
        if str(k).startswith("texts.") and str(v).strip()
    }


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
                texts=_texts(form),
                open_shelters=opened,
            ),
            request,
            session,
            settings,
            staff.actor,
        ),
    )
    refused = _refused(result)
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
            api.LiftIn(text=str(form.get("text", "")).strip(), texts=_texts(form)),
        ),
    )
    refused = _refused(result)
    if refused is not None:
        session.refresh(emergency)
        return _detail(request, session, staff, emergency, refused, "lift", 422, form)
    return redirect(f"{BASE}/{emergency_id}")


# --- the alert inbox -------------------------------------------------------------------


@router.get(f"{BASE}/alerts", response_class=HTMLResponse)
def alerts(request: Request, session: SessionDep, settings: SettingsDep, staff: Desk) -> Response:
    return _alerts(request, session, settings, staff)


def _alerts(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Staff,
    refused: dict[str, Any] | None = None,
    refused_draft: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    drafts = session.exec(
        select(EmergencyDraft)
        .where(EmergencyDraft.status == DraftStatus.open)
        .order_by(col(EmergencyDraft.updated_at).desc())
        .limit(50)
    ).all()
    refused_alerts = session.exec(
        select(AlertRecord)
        .where(AlertRecord.outcome == "refused")
        .order_by(col(AlertRecord.id).desc())
        .limit(10)
    ).all()
    return _page(
        request,
        staff,
        "emergency_alerts.html",
        status_code,
        drafts=drafts,
        refused_alerts=refused_alerts,
        feeds=feed_status(session, settings),
        refusal=refused,
        refused_draft=refused_draft,
        open_counts={
            d.id: _open_counts(session, d.kind) for d in drafts if d.kind and d.id is not None
        },
    )


@router.post(BASE + "/alerts/{draft_id:int}/confirm", response_class=HTMLResponse)
def confirm(
    request: Request, draft_id: int, session: SessionDep, settings: SettingsDep, staff: Desk
) -> Response:
    """One step: the draft as it stands is sent (the API's confirm route)."""
    result = attempt(
        session,
        lambda: api.confirm_draft(draft_id, request, session, settings, staff.actor, None),
    )
    refused = _refused(result)
    if refused is not None:
        return _alerts(request, session, settings, staff, refused, draft_id, 422)
    assert isinstance(result, dict)
    return redirect(f"{BASE}/{result['id']}")


# --- shelters --------------------------------------------------------------------------


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
    return _page(
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
