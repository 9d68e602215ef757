"""`/api/v1/emergencies`: evacuation orders and their follow-ups (updates, 解除).

Only the disaster desk and admins send; any token reads. An order is dispatched in the
request, so its batches are queued (ahead of everything else) when the answer comes. Drafts
from alert feeds have their own routes (`broadcaster.api.emergency_drafts`), which send a
confirmed draft through `send` here; the answers' models are in
`broadcaster.api.emergency_answers`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, func, select

from broadcaster import audit
from broadcaster.api.deps import SessionDep, SettingsDep, get_renderer
from broadcaster.api.emergency_answers import (
    DryRun,
    EmergencyCounts,
    EmergencyList,
    EmergencyPublic,
    EmergencySent,
    FollowUpSent,
    Sent,
    emergency_public,
)
from broadcaster.auth import Actor, CurrentActor, DisasterDeskActor
from broadcaster.broadcasts import Broadcast
from broadcaster.clock import utcnow
from broadcaster.delivery.lane import EmergencyLane
from broadcaster.emergency import orders
from broadcaster.emergency.dry_run import dry_run
from broadcaster.emergency.models import Emergency
from broadcaster.emergency.order_requests import OrderRequest
from broadcaster.emergency.shelters import Shelter, set_open
from broadcaster.errors import FieldError, Refused, not_found
from broadcaster.inputs import Count, Id
from broadcaster.progress import delivery_counts

router = APIRouter(prefix="/emergencies", tags=["emergencies"])


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Count = Field(description="警戒レベル: 3 高齢者等避難, 4 避難指示, 5 緊急安全確保")
    districts: list[str]
    kind: str = Field(description="disaster kind: 洪水, 土砂災害, 地震, 津波, 高潮, ...")
    text: str = Field(default="", max_length=2000)
    texts: dict[str, Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict,
        description="free text per resident language (en, zh, ...); others get `text` "
        "(Japanese) under a note saying so",
    )
    drill: bool = Field(default=False, description="訓練: every message starts with 【訓練】")
    hold_routine: bool = Field(
        default=True,
        description="disaster mode: hold routine broadcasts to these districts while active",
    )
    dry_run: bool = Field(default=False, description="count and warn only (answers 200)")


class UpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Count | None = None
    text: str = Field(default="", max_length=2000)
    texts: dict[str, Annotated[str, Field(max_length=2000)]] = Field(default_factory=dict)
    open_shelters: list[Id] = Field(default_factory=list, description="shelter ids to open")


class LiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(default="", max_length=2000)
    texts: dict[str, Annotated[str, Field(max_length=2000)]] = Field(default_factory=dict)


class RoutineHoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hold: bool = Field(description="false: routine broadcasts to its districts go out")


def order_actor(actor: Actor) -> orders.Actor:
    """The signed-in actor as the order code takes it (it knows nothing of tokens)."""
    return orders.Actor(actor.label, actor.department_id)


def send(request: Request, session: Session, broadcast: Broadcast) -> Sent:
    """Hand the committed order to the emergency lane and answer at once: `dispatch` says
    whether its outbox is already written ("done", an app without background work) or
    being written ("queued"); `recipients` counts those queued so far."""
    assert broadcast.id is not None
    lane: EmergencyLane = request.app.state.emergency_lane
    queued = lane.submit(broadcast.id)
    counts = delivery_counts(session, broadcast.id)
    return Sent(dispatch="done" if queued.done() else "queued", recipients=sum(counts.values()))


@router.post(
    "",
    status_code=201,
    summary="Send an evacuation order now (201), or count and warn for a dry run (200)",
    responses={
        200: {"description": "dry run: counts and warnings per district, nothing sent",
              "model": DryRun}
    },
)
def create_emergency(
    body: OrderIn,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    actor: DisasterDeskActor,
) -> EmergencySent | DryRun:
    order = OrderRequest(
        body.level,
        body.districts,
        body.kind,
        body.text,
        body.drill,
        texts=body.texts,
        hold_routine=body.hold_routine,
    )
    renderer = get_renderer(request)
    now = utcnow()
    if body.dry_run:
        counted = dry_run(session, order, settings)
        # A dry run creates nothing: 200, not 201 Created.
        response.status_code = status.HTTP_200_OK
        return DryRun.model_validate(counted)
    # OrderRefused -> 422 naming the field (broadcaster.api.refusals); rolled back.
    emergency, broadcast = orders.issue_order(
        session, order_actor(actor), order, settings, renderer, now
    )
    session.commit()
    sent = send(request, session, broadcast)
    return EmergencySent(**emergency_public(session, emergency).model_dump(), **sent.model_dump())


@router.get("", summary="Emergencies, newest first; drills only with drill=true")
def list_emergencies(
    session: SessionDep,
    actor: CurrentActor,
    drill: Annotated[bool, Query(description="true: drills (訓練) only")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EmergencyList:
    rows = session.exec(
        select(Emergency)
        .where(col(Emergency.drill).is_(drill))
        .order_by(col(Emergency.created_at).desc(), col(Emergency.id).desc())
        .limit(limit)
    ).all()
    counts = dict(
        session.exec(select(Emergency.drill, func.count()).group_by(col(Emergency.drill))).all()
    )
    return EmergencyList(
        drill=drill,
        counts=EmergencyCounts(live=counts.get(False, 0), drill=counts.get(True, 0)),
        emergencies=[emergency_public(session, e) for e in rows],
    )


def _emergency(session: Session, emergency_id: Id) -> Emergency:
    emergency = session.get(Emergency, emergency_id)
    if emergency is None:
        raise not_found("emergency", emergency_id)
    return emergency


@router.get("/{emergency_id}", summary="One emergency with its broadcasts and progress")
def get_emergency(emergency_id: Id, session: SessionDep, actor: CurrentActor) -> EmergencyPublic:
    return emergency_public(session, _emergency(session, emergency_id))


@router.post("/{emergency_id}/updates", status_code=201, summary="Update to the same recipients")
def update_emergency(
    emergency_id: Id,
    body: UpdateIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: DisasterDeskActor,
) -> FollowUpSent:
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
        order_actor(actor),
        emergency,
        settings,
        renderer,
        now,
        level=body.level,
        text=body.text,
        texts=body.texts,
    )
    session.commit()
    sent = send(request, session, broadcast)
    assert emergency.id is not None and broadcast.id is not None
    return FollowUpSent(
        emergency_id=emergency.id, broadcast_id=broadcast.id, **sent.model_dump()
    )


@router.post("/{emergency_id}/lift", status_code=201, summary="解除: tell the same recipients")
def lift_emergency(
    emergency_id: Id,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: DisasterDeskActor,
    body: LiftIn | None = None,
) -> FollowUpSent:
    emergency = _emergency(session, emergency_id)
    renderer = get_renderer(request)
    now = utcnow()
    # Already lifted -> 409, otherwise 422 (broadcaster.api.refusals).
    broadcast = orders.lift(
        session,
        order_actor(actor),
        emergency,
        settings,
        renderer,
        now,
        text=(body or LiftIn()).text,
        texts=(body or LiftIn()).texts,
    )
    session.commit()
    sent = send(request, session, broadcast)
    assert emergency.id is not None and broadcast.id is not None
    return FollowUpSent(
        emergency_id=emergency.id, broadcast_id=broadcast.id, **sent.model_dump()
    )


@router.post(
    "/{emergency_id}/routine-hold",
    summary="Disaster mode: hold (or stop holding) routine broadcasts to its districts",
)
def set_routine_hold(
    emergency_id: Id,
    body: RoutineHoldIn,
    session: SessionDep,
    actor: DisasterDeskActor,
) -> EmergencyPublic:
    emergency = _emergency(session, emergency_id)
    before = emergency.hold_routine
    emergency.hold_routine = body.hold
    session.add(emergency)
    audit.record(
        session,
        at=utcnow(),
        actor=actor.label,
        action="emergency.routine_hold",
        entity="emergency",
        entity_id=emergency.id,
        department_id=actor.department_id,
        before={"hold_routine": before},
        after={"hold_routine": body.hold},
    )
    session.commit()
    return emergency_public(session, emergency)
