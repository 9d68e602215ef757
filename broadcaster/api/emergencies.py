"""`/api/v1/emergencies`: evacuation orders, their follow-ups, and drafts from alert feeds.

Only the disaster desk and admins send or confirm; any token reads. An order is dispatched
in the request, so its batches are queued (ahead of everything else) when the answer comes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, func, select

from broadcaster import audit
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.api.types import Count, Id
from broadcaster.auth import Actor, CurrentActor, DisasterDeskActor
from broadcaster.broadcasts import Broadcast
from broadcaster.clock import utcnow
from broadcaster.emergency import orders
from broadcaster.emergency.models import DraftStatus, Emergency, EmergencyDraft
from broadcaster.emergency.shelters import Shelter, set_open
from broadcaster.errors import Conflict, FieldError, Refused, not_found
from broadcaster.progress import delivery_counts
from broadcaster.render import Renderer
from broadcaster.settings import Settings

router = APIRouter(prefix="/emergencies", tags=["emergencies"])


def get_renderer(request: Request) -> Renderer:
    """The app's renderer (built once from the settings if the app has none yet)."""
    renderer: Renderer | None = getattr(request.app.state, "renderer", None)
    if renderer is None:
        renderer = Renderer.from_settings(request.app.state.settings)
        request.app.state.renderer = renderer
    return renderer


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Count = Field(description="警戒レベル: 3 高齢者等避難, 4 避難指示, 5 緊急安全確保")
    districts: list[str]
    kind: str = Field(description="disaster kind: 洪水, 土砂災害, 地震, 津波, 高潮, ...")
    text: str = Field(default="", max_length=2000)
    drill: bool = Field(default=False, description="訓練: every message starts with 【訓練】")
    dry_run: bool = False


class UpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Count | None = None
    text: str = Field(default="", max_length=2000)
    open_shelters: list[Id] = Field(default_factory=list, description="shelter ids to open")


class LiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(default="", max_length=2000)


class ConfirmIn(BaseModel):
    """Corrections the desk makes to the prefilled draft before sending."""

    model_config = ConfigDict(extra="forbid")

    level: Count | None = None
    kind: str | None = None
    districts: list[str] | None = None
    text: str | None = Field(default=None, max_length=2000)
    drill: bool | None = None


def _order_actor(actor: Actor) -> orders.Actor:
    return orders.Actor(actor.label, actor.department_id)


# How long normal sends may be held for an order being queued: the hold ends as soon as
# its batches are written; this only bounds a request that never gets there.
HOLD_SECONDS = 10.0


@contextmanager
def _tokens_kept(request: Request) -> Iterator[None]:
    """Normal sends take no LINE tokens while an order is prepared and queued, so the
    tokens that refill meanwhile are there for its first requests (see
    `DeliveryWorker.hold_normal_sends`)."""
    worker = request.app.state.worker
    if worker is None:
        yield
        return
    worker.hold_normal_sends(HOLD_SECONDS)
    try:
        yield
    finally:
        worker.release_normal_sends()


def _send(
    request: Request,
    session: Session,
    broadcast: Broadcast,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> dict[str, int]:
    # The worker sends each chunk of the order as soon as it is committed, while the rest
    # is still being written, instead of at its next poll.
    worker = request.app.state.worker
    wake = worker.wake_from_thread if worker is not None else None
    result = orders.dispatch_now(session, broadcast, settings, renderer, now, on_commit=wake)
    return {"recipients": result.recipients, "batches": result.batches}


def emergency_public(session: Session, emergency: Emergency) -> dict[str, Any]:
    broadcasts = session.exec(
        select(Broadcast)
        .where(
            (col(Broadcast.id) == emergency.broadcast_id)
            | (col(Broadcast.parent_id) == emergency.broadcast_id)
        )
        .order_by(col(Broadcast.id))
    ).all()
    return {
        "id": emergency.id,
        "level": emergency.level,
        "level_label": orders.level_label(emergency.level),
        "kind": emergency.kind,
        "districts": emergency.districts,
        "text": emergency.text,
        "drill": emergency.drill,
        "status": emergency.status,
        "draft_id": emergency.draft_id,
        "created_by": emergency.created_by,
        "created_at": emergency.created_at.isoformat(),
        "lifted_at": emergency.lifted_at.isoformat() if emergency.lifted_at else None,
        "broadcasts": [
            {
                "id": b.id,
                "title": b.title,
                "status": b.status,
                "follow_up": b.id != emergency.broadcast_id,
                "deliveries": delivery_counts(session, b.id) if b.id is not None else {},
            }
            for b in broadcasts
        ],
    }


@router.post("", status_code=201, summary="Send an evacuation order now (or count a dry run)")
def create_emergency(
    body: OrderIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: DisasterDeskActor,
) -> dict[str, Any]:
    order = orders.OrderRequest(body.level, body.districts, body.kind, body.text, body.drill)
    renderer = get_renderer(request)
    now = utcnow()
    if body.dry_run:
        return orders.dry_run(session, order, settings)
    with _tokens_kept(request):
        # OrderRefused -> 422 naming the field (broadcaster.api.refusals); rolled back.
        emergency, broadcast = orders.issue_order(
            session, _order_actor(actor), order, settings, renderer, now
        )
        session.commit()
        sent = _send(request, session, broadcast, settings, renderer, now)
    return {**emergency_public(session, emergency), **sent}


@router.get("", summary="Emergencies, newest first; drills only with drill=true")
def list_emergencies(
    session: SessionDep,
    actor: CurrentActor,
    drill: Annotated[bool, Query(description="true: drills (訓練) only")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    rows = session.exec(
        select(Emergency)
        .where(col(Emergency.drill).is_(drill))
        .order_by(col(Emergency.created_at).desc(), col(Emergency.id).desc())
        .limit(limit)
    ).all()
    counts = dict(
        session.exec(select(Emergency.drill, func.count()).group_by(col(Emergency.drill))).all()
    )
    return {
        "drill": drill,
        "counts": {"live": counts.get(False, 0), "drill": counts.get(True, 0)},
        "emergencies": [emergency_public(session, e) for e in rows],
    }


@router.get("/drafts", summary="Drafts made from alert feeds")
def list_drafts(
    session: SessionDep,
    actor: CurrentActor,
    draft_status: Annotated[str | None, Query(alias="status")] = DraftStatus.open,
) -> dict[str, Any]:
    query = select(EmergencyDraft).order_by(col(EmergencyDraft.updated_at).desc())
    if draft_status:
        query = query.where(EmergencyDraft.status == draft_status)
    return {"drafts": [draft_public(d) for d in session.exec(query).all()]}


def draft_public(draft: EmergencyDraft) -> dict[str, Any]:
    return {
        **draft.model_dump(mode="json"),
        "level_label": orders.level_label(draft.level) if draft.level else None,
    }


def _draft(session: Session, draft_id: Id) -> EmergencyDraft:
    draft = session.get(EmergencyDraft, draft_id)
    if draft is None:
        raise not_found("draft", draft_id)
    return draft


@router.get("/drafts/{draft_id}", summary="One draft with its source and history")
def get_draft(draft_id: Id, session: SessionDep, actor: CurrentActor) -> dict[str, Any]:
    return draft_public(_draft(session, draft_id))


@router.post("/drafts/{draft_id}/confirm", status_code=201, summary="Send a draft as an order")
def confirm_draft(
    draft_id: Id,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: DisasterDeskActor,
    body: ConfirmIn | None = None,
) -> dict[str, Any]:
    body = body or ConfirmIn()
    draft = _draft(session, draft_id)
    if draft.status != DraftStatus.open:
        raise Conflict("emergency.draft_not_open", ident=draft_id, status=str(draft.status))
    if draft.drill and body.drill is False:
        raise Refused(
            "emergency.drill_only", errors=[FieldError("drill", code="emergency.drill_only")]
        )
    level = body.level if body.level is not None else draft.level
    order = orders.OrderRequest(
        level=level if level is not None else 0,
        districts=body.districts if body.districts is not None else draft.districts,
        kind=body.kind or draft.kind or "",
        text=body.text if body.text is not None else draft.text,
        drill=draft.drill or bool(body.drill),
    )
    renderer = get_renderer(request)
    now = utcnow()
    with _tokens_kept(request):
        return _confirm(request, session, settings, actor, draft, order, renderer, now)


def _confirm(
    request: Request,
    session: Session,
    settings: Settings,
    actor: Actor,
    draft: EmergencyDraft,
    order: orders.OrderRequest,
    renderer: Renderer,
    now: datetime,
) -> dict[str, Any]:
    emergency, broadcast = orders.issue_order(
        session, _order_actor(actor), order, settings, renderer, now, draft_id=draft.id
    )
    draft.status = DraftStatus.confirmed
    draft.emergency_id = emergency.id
    draft.updated_at = now
    draft.history = [
        *draft.history,
        {
            "at": now.isoformat(),
            "what": "confirmed",
            "by": actor.label,
            "emergency_id": emergency.id,
        },
    ]
    session.add(draft)
    audit.record(
        session,
        at=now,
        actor=actor.label,
        action="emergency_draft.confirm",
        entity="emergency_draft",
        entity_id=draft.id,
        department_id=actor.department_id,
        after={"emergency_id": emergency.id},
    )
    session.commit()
    sent = _send(request, session, broadcast, settings, renderer, now)
    return {**emergency_public(session, emergency), **sent}


def _emergency(session: Session, emergency_id: Id) -> Emergency:
    emergency = session.get(Emergency, emergency_id)
    if emergency is None:
        raise not_found("emergency", emergency_id)
    return emergency


@router.get("/{emergency_id}", summary="One emergency with its broadcasts and progress")
def get_emergency(emergency_id: Id, session: SessionDep, actor: CurrentActor) -> dict[str, Any]:
    return emergency_public(session, _emergency(session, emergency_id))


@router.post("/{emergency_id}/updates", status_code=201, summary="Update to the same recipients")
def update_emergency(
    emergency_id: Id,
    body: UpdateIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: DisasterDeskActor,
) -> dict[str, Any]:
    emergency = _emergency(session, emergency_id)
    renderer = get_renderer(request)
    now = utcnow()
    for shelter_id in body.open_shelters:
        shelter = session.get(Shelter, shelter_id)
        if shelter is None:
            raise Refused(
                "emergency.unknown_shelter",
                errors=[
                    FieldError(
                        "open_shelters",
                        code="emergency.unknown_shelter",
                        params={"ident": shelter_id},
                    )
                ],
                ident=shelter_id,
            )
        if set_open(shelter, True, now):
            session.add(shelter)
            audit.record(
                session,
                at=now,
                actor=actor.label,
                action="shelter.open",
                entity="shelter",
                entity_id=shelter.id,
                department_id=actor.department_id,
            )
    session.flush()
    broadcast = orders.issue_update(
        session,
        _order_actor(actor),
        emergency,
        settings,
        renderer,
        now,
        level=body.level,
        text=body.text,
    )
    session.commit()
    sent = _send(request, session, broadcast, settings, renderer, now)
    return {"emergency_id": emergency.id, "broadcast_id": broadcast.id, **sent}


@router.post("/{emergency_id}/lift", status_code=201, summary="解除: tell the same recipients")
def lift_emergency(
    emergency_id: Id,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: DisasterDeskActor,
    body: LiftIn | None = None,
) -> dict[str, Any]:
    emergency = _emergency(session, emergency_id)
    renderer = get_renderer(request)
    now = utcnow()
    broadcast = orders.lift(
        session,
        _order_actor(actor),
        emergency,
        settings,
        renderer,
        now,
        text=(body or LiftIn()).text,
    )
    session.commit()
    sent = _send(request, session, broadcast, settings, renderer, now)
    return {"emergency_id": emergency.id, "broadcast_id": broadcast.id, **sent}
