"""`/api/v1/emergencies/drafts`: drafts made from alert feeds, and sending one as an order.

Only the disaster desk and admins confirm; any token reads. A confirmed draft is issued
and dispatched exactly like an order sent from the desk (`broadcaster.api.emergencies`).
Its router is registered before the order routes' so `/emergencies/drafts` is never
taken for `/emergencies/{emergency_id}`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from broadcaster import audit
from broadcaster.api.deps import SessionDep, SettingsDep, get_renderer
from broadcaster.api.emergencies import order_actor, send
from broadcaster.api.emergency_answers import (
    DraftList,
    DraftPublic,
    EmergencySent,
    draft_public,
    emergency_public,
)
from broadcaster.auth import Actor, CurrentActor, DisasterDeskActor
from broadcaster.clock import utcnow
from broadcaster.emergency import orders
from broadcaster.emergency.models import DraftStatus, EmergencyDraft
from broadcaster.emergency.order_requests import OrderRequest
from broadcaster.errors import Conflict, FieldError, Refused, not_found
from broadcaster.inputs import Count, Id
from broadcaster.render import Renderer
from broadcaster.settings import Settings

router = APIRouter(prefix="/emergencies", tags=["emergencies"])


class ConfirmIn(BaseModel):
    """Corrections the desk makes to the prefilled draft before sending."""

    model_config = ConfigDict(extra="forbid")

    level: Count | None = None
    kind: str | None = None
    districts: list[str] | None = None
    text: str | None = Field(default=None, max_length=2000)
    drill: bool | None = None


@router.get("/drafts", summary="Drafts made from alert feeds")
def list_drafts(
    session: SessionDep,
    actor: CurrentActor,
    draft_status: Annotated[str | None, Query(alias="status")] = DraftStatus.open,
) -> DraftList:
    query = select(EmergencyDraft).order_by(col(EmergencyDraft.updated_at).desc())
    if draft_status:
        query = query.where(EmergencyDraft.status == draft_status)
    return DraftList(drafts=[draft_public(d) for d in session.exec(query).all()])


def _draft(session: Session, draft_id: Id) -> EmergencyDraft:
    draft = session.get(EmergencyDraft, draft_id)
    if draft is None:
        raise not_found("draft", draft_id)
    return draft


@router.get("/drafts/{draft_id}", summary="One draft with its source and history")
def get_draft(draft_id: Id, session: SessionDep, actor: CurrentActor) -> DraftPublic:
    return draft_public(_draft(session, draft_id))


@router.post("/drafts/{draft_id}/confirm", status_code=201, summary="Send a draft as an order")
def confirm_draft(
    draft_id: Id,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: DisasterDeskActor,
    body: ConfirmIn | None = None,
) -> EmergencySent:
    body = body or ConfirmIn()
    draft = _draft(session, draft_id)
    if draft.status != DraftStatus.open:
        raise Conflict("emergency.draft_not_open", ident=draft_id, status=str(draft.status))
    if draft.drill and body.drill is False:
        raise Refused(
            "emergency.drill_only", errors=[FieldError("drill", code="emergency.drill_only")]
        )
    level = body.level if body.level is not None else draft.level
    order = OrderRequest(
        level=level if level is not None else 0,
        districts=body.districts if body.districts is not None else draft.districts,
        kind=body.kind or draft.kind or "",
        text=body.text if body.text is not None else draft.text,
        drill=draft.drill or bool(body.drill),
    )
    renderer = get_renderer(request)
    now = utcnow()
    return _confirm(request, session, settings, actor, draft, order, renderer, now)


def _confirm(
    request: Request,
    session: Session,
    settings: Settings,
    actor: Actor,
    draft: EmergencyDraft,
    order: OrderRequest,
    renderer: Renderer,
    now: datetime,
) -> EmergencySent:
    emergency, broadcast = orders.issue_order(
        session, order_actor(actor), order, settings, renderer, now, draft_id=draft.id
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
    sent = send(request, session, broadcast)
    return EmergencySent(**emergency_public(session, emergency).model_dump(), **sent.model_dump())
