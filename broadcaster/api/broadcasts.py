"""`/api/v1/broadcasts`: create, list, edit, cancel, approve and preview broadcasts.

A department sees and changes only its own broadcasts (another's is a 404); the disaster
desk may also send emergencies; an admin sees all and approves. Every refusal names what
to fix (problem details, see `broadcaster.api.problems`: 422 naming the field, 409 naming
the status). Times are
entered in Asia/Tokyo (a time without offset is taken as Asia/Tokyo) and shown with +09:00.
(GET /broadcasts/{id} and its deliveries live in `broadcast_records`.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Query, Request, status
from sqlmodel import Field, Session, SQLModel, col, select

from broadcaster.api.deps import RendererDep, SessionDep, SettingsDep
from broadcaster.auth import Actor, AdminActor, CurrentActor
from broadcaster.broadcast_creation import create_broadcast, unsaved
from broadcaster.broadcast_edits import approve_broadcast, cancel_broadcast, update_broadcast
from broadcaster.broadcast_requests import BroadcastRefused, BroadcastRequest, check_request
from broadcaster.broadcasts import (
    Broadcast,
    BroadcastBase,
    BroadcastCreate,
    BroadcastPublic,
    BroadcastStatus,
    BroadcastUpdate,
    Priority,
    is_emergency,
)
from broadcaster.clock import utcnow
from broadcaster.db import table_of
from broadcaster.departments import Role
from broadcaster.errors import Forbidden, not_found
from broadcaster.inputs import CityDateTime, Id
from broadcaster.planning import audience_for, renderer_for
from broadcaster.policies import hold
from broadcaster.render import TemplateError
from broadcaster.settings import Settings
from segments.residents import Resident, mask_user_id
from segments.saved import Segment

router = APIRouter(prefix="/broadcasts", tags=["broadcasts"])

RULE_EXAMPLE = {"all": [{"field": "district", "op": "in", "value": ["中央", "北"]}]}
CREATE_EXAMPLES: dict[str, Any] = {
    "inline": {
        "summary": "Inline template, inline rule, at a fixed time",
        "value": {
            "title": "子育て広場のお知らせ",
            "category": "childcare",
            "template_text": "{{ resident.district }}地区の子育て広場は{{ day }}に開きます。",
            "parameters": {"day": "5月10日"},
            "rule": {"field": "子育て世帯", "op": "eq", "value": True},
            "send_at": "2026-05-01T10:00:00",
        },
    },
    "saved_segment_recurring": {
        "summary": "Saved segment, every first Monday at 9:00",
        "value": {
            "title": "月例のお知らせ",
            "category": "general",
            "template_name": "notice",
            "parameters": {"body": "今月の窓口時間は…"},
            "segment_id": 1,
            "send_at": "2026-05-04T09:00:00+09:00",
            "recurrence": "0 9 * * mon#1",
        },
    },
    "now": {
        "summary": "Send now to everyone (as a draft first)",
        "value": {
            "title": "臨時休館",
            "category": "general",
            "template_text": "本日、市民会館は臨時休館です。",
            "send_at": "now",
            "draft": True,
        },
    },
    "emergency": {
        "summary": "Emergency (disaster desk): sent at once, ignores quiet hours and caps",
        "value": {
            "title": "避難指示",
            "category": "general",
            "priority": "emergency",
            "template_text": "【避難指示】山間地区に避難指示が出ました。",
            "rule": {"field": "district", "op": "eq", "value": "山間"},
            "send_at": "now",
        },
    },
}
UPDATE_EXAMPLES: dict[str, Any] = {
    "reschedule": {"summary": "Move it", "value": {"send_at": "2026-05-01T12:00:00"}},
    "schedule_draft": {"summary": "Schedule a draft", "value": {"draft": False}},
    "retarget": {"summary": "Another rule", "value": {"rule": RULE_EXAMPLE}},
}


class PreviewSample(SQLModel):
    language: str
    resident: str = Field(description="masked LINE user id of the sample resident")
    messages: list[dict[str, Any]]


class BroadcastPreview(SQLModel):
    recipients: int
    quota: int = Field(description="LINE messages counted against the quota (per recipient)")
    samples: list[PreviewSample]


def public(broadcast: Broadcast, settings: Settings) -> BroadcastPublic:
    data = broadcast.model_dump()
    for name in ("send_at", "created_at", "updated_at", "dispatched_at", "finished_at"):
        if data[name] is not None:
            data[name] = data[name].astimezone(settings.tz)
    data["priority"] = "emergency" if is_emergency(broadcast.priority) else "normal"
    held = hold()
    data["digest"] = held is not None and held.is_marked(broadcast)
    return BroadcastPublic.model_validate(data)


def visible(session: Session, actor: Actor, broadcast_id: Id) -> Broadcast:
    """The broadcast, or 404 when missing or another department's."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or not actor.may_see(broadcast.department_id):
        raise not_found("broadcast", broadcast_id)
    return broadcast


def _check_segment(session: Session, actor: Actor, segment_id: Id | None) -> None:
    if segment_id is None:
        return
    segment = session.get(Segment, segment_id)
    if segment is None or not actor.may_see(segment.department_id):
        raise BroadcastRefused(f"segment {segment_id} does not exist", "segment_id")


def _check_priority(actor: Actor, priority: str) -> None:
    if priority == "emergency" and actor.role not in (Role.disaster_desk, Role.admin):
        raise Forbidden("broadcast.emergency_forbidden")


def _request(body: BroadcastCreate) -> BroadcastRequest:
    """The body as a request: BroadcastBase's fields by name, then what the API says
    differently (a priority name, "now")."""
    emergency = body.priority == "emergency"
    return BroadcastRequest(
        **body.model_dump(include=set(BroadcastBase.model_fields)),
        rule=body.rule,
        send_at=body.send_at if isinstance(body.send_at, datetime) else None,  # else "now"
        draft=body.draft,
        kind="emergency" if emergency else "announcement",
        priority=Priority.emergency if emergency else Priority.normal,
        digest=body.digest,
    )


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a broadcast")
def create(
    body: Annotated[BroadcastCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    renderer: RendererDep,
) -> BroadcastPublic:
    """Validates everything (template, rule, LINE limits, category, quiet hours) before
    storing anything. A broadcast due now is dispatched at once: an emergency before the
    response, any other just after it."""
    _check_priority(actor, body.priority)
    _check_segment(session, actor, body.segment_id)
    now = utcnow()
    broadcast = create_broadcast(
        session,
        actor.label,
        actor.department_id,
        _request(body),
        settings,
        renderer,
        now,
        needs_approval=actor.role != Role.admin,
    )
    session.commit()
    if broadcast.status == BroadcastStatus.scheduled and broadcast.send_at <= now:
        assert broadcast.id is not None
        if is_emergency(broadcast.priority):
            # Ahead of everything, through the emergency lane (written before the answer
            # when the app has no background work).
            request.app.state.emergency_lane.submit(broadcast.id)
            session.refresh(broadcast)
        else:
            request.app.state.dispatcher.dispatch_soon(broadcast.id)
    return public(broadcast, settings)


@router.get("", summary="List broadcasts")
def list_broadcasts(
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    status_: Annotated[BroadcastStatus | None, Query(alias="status")] = None,
    since: Annotated[CityDateTime | None, Query(description="send_at from (Asia/Tokyo)")] = None,
    until: Annotated[CityDateTime | None, Query(description="send_at before (Asia/Tokyo)")] = None,
    department_id: Annotated[Id | None, Query(description="admins only")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[BroadcastPublic]:
    """Newest send time first. A department sees only its own broadcasts."""
    query = select(Broadcast)
    if actor.role != Role.admin:
        query = query.where(Broadcast.department_id == actor.department_id)
    elif department_id is not None:
        query = query.where(Broadcast.department_id == department_id)
    if status_ is not None:
        query = query.where(Broadcast.status == status_)
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=settings.tz)
        query = query.where(col(Broadcast.send_at) >= since)
    if until is not None:
        until = until if until.tzinfo else until.replace(tzinfo=settings.tz)
        query = query.where(col(Broadcast.send_at) < until)
    query = query.order_by(col(Broadcast.send_at).desc(), col(Broadcast.id).desc()).limit(limit)
    return [public(b, settings) for b in session.exec(query)]


@router.patch("/{broadcast_id}", summary="Edit a broadcast that is not sent yet")
def update(
    broadcast_id: Id,
    body: Annotated[BroadcastUpdate, Body(openapi_examples=UPDATE_EXAMPLES)],
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    renderer: RendererDep,
) -> BroadcastPublic:
    """Draft, awaiting approval or scheduled only (else 409 with the current status).
    The result is validated as at creation."""
    broadcast = visible(session, actor, broadcast_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("send_at") == "now":
        changes["send_at"] = None
    _check_segment(session, actor, changes.get("segment_id"))
    update_broadcast(
        session,
        broadcast,
        actor.label,
        changes,
        settings,
        renderer,
        utcnow(),
        needs_approval=actor.role != Role.admin,
    )
    session.commit()
    return public(broadcast, settings)


@router.post("/{broadcast_id}/cancel", summary="Cancel a broadcast that is not sent yet")
def cancel(
    broadcast_id: Id, actor: CurrentActor, session: SessionDep, settings: SettingsDep
) -> BroadcastPublic:
    broadcast = visible(session, actor, broadcast_id)
    cancel_broadcast(session, broadcast, actor.label, utcnow())
    session.commit()
    return public(broadcast, settings)


@router.post("/{broadcast_id}/approve", summary="Approve a broadcast (admin)")
def approve(
    broadcast_id: Id, actor: AdminActor, session: SessionDep, settings: SettingsDep
) -> BroadcastPublic:
    """awaiting_approval -> scheduled (only when scheduling.approval_required)."""
    broadcast = visible(session, actor, broadcast_id)
    approve_broadcast(session, broadcast, actor.label, settings, utcnow())
    session.commit()
    return public(broadcast, settings)


@router.post("/preview", summary="Preview messages, recipients and LINE quota")
def preview(
    body: Annotated[BroadcastCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    renderer: RendererDep,
) -> BroadcastPreview:
    """Nothing is stored. One sample resident per language present in the audience; the
    quota is the recipient count (multicast counts every recipient)."""
    _check_priority(actor, body.priority)
    _check_segment(session, actor, body.segment_id)
    request = _request(body)
    now = utcnow()
    checked = check_request(session, request, settings, renderer, now)
    draft = unsaved(request, checked, actor.department_id, actor.label, now)
    audience = audience_for(draft, settings)
    resident = table_of(Resident)
    connection = session.connection()
    count = connection.execute(sa.select(sa.func.count()).select_from(resident).where(audience))
    recipients = int(count.scalar_one())
    firsts = connection.execute(
        sa.select(resident.c.language, sa.func.min(resident.c.id))
        .where(audience)
        .group_by(resident.c.language)
        .order_by(resident.c.language)
    ).all()
    fields, render = renderer_for(session, draft, renderer)
    samples: list[PreviewSample] = []
    for language, resident_id in firsts:
        row = session.get(Resident, resident_id)
        assert row is not None
        context = {name: getattr(row, name) for name in fields}
        try:
            messages = render(context)
        except TemplateError as exc:
            raise BroadcastRefused(f"template: {exc}", "template", exc.code, **exc.params) from None
        samples.append(
            PreviewSample(
                language=language, resident=mask_user_id(row.line_user_id), messages=messages
            )
        )
    return BroadcastPreview(recipients=recipients, quota=recipients, samples=samples)
