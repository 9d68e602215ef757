"""Creating a broadcast: the row a checked request describes, and the status it starts in.

(`broadcasts` is the model and its states; `broadcast_requests` checks what a caller asks
for; this module adds it.) Every send goes through `create_broadcast`. It works in the
caller's transaction and writes its audit entry there (through the lifecycle), so the
broadcast and its record land together or not at all; the caller commits.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime

from sqlmodel import Session

from broadcaster import lifecycle, policies
from broadcaster.broadcast_requests import BroadcastRequest, Checked, check_request
from broadcaster.broadcasts import Broadcast, BroadcastStatus, is_emergency
from broadcaster.render import Renderer
from broadcaster.settings import Settings


def initial_status(
    request: BroadcastRequest, settings: Settings, needs_approval: bool
) -> BroadcastStatus:
    """The status a checked request lands in, at creation and again after an edit (so an
    edited approved broadcast goes back for approval when `needs_approval`)."""
    if request.draft:
        return BroadcastStatus.draft
    if (
        needs_approval
        and settings.scheduling.approval_required
        and not is_emergency(request.priority)
    ):
        return BroadcastStatus.awaiting_approval
    return BroadcastStatus.scheduled


# The request fields stored as they are; the rest are checked values or not columns.
STORED_FIELDS = tuple(
    f.name
    for f in fields(BroadcastRequest)
    if f.name in Broadcast.model_fields
    and f.name not in ("send_at", "rule", "parameters", "priority")
)


def unsaved(
    request: BroadcastRequest, checked: Checked, department_id: int, actor_label: str, now: datetime
) -> Broadcast:
    """The broadcast `request` describes, not yet added: every field of the request that
    is a column is copied by name, so none can be forgotten (a preview plans this too)."""
    return Broadcast(
        **{name: getattr(request, name) for name in STORED_FIELDS},
        department_id=department_id,
        priority=policies.priority_of(request),
        parameters=dict(request.parameters),
        segment_version=checked.segment_version,
        rule=checked.rule,
        send_at=checked.send_at,
        created_by=actor_label,
        created_at=now,
        updated_at=now,
    )


def create_broadcast(
    session: Session,
    actor_label: str,
    department_id: int,
    request: BroadcastRequest,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    needs_approval: bool = False,
) -> Broadcast:
    """Check `request` and add the broadcast (flushed, not committed) with its audit entry.

    `needs_approval`: the caller's role must have an admin approve it when
    settings.scheduling.approval_required (the API passes True for non-admins; system
    callers leave it False). Emergencies never wait. Raises BroadcastRefused.
    """
    checked = check_request(session, request, settings, renderer, now)
    broadcast = lifecycle.add(
        session,
        unsaved(request, checked, department_id, actor_label, now),
        initial_status(request, settings, needs_approval),
        actor=actor_label,
        now=now,
    )
    hold = policies.hold()
    if request.digest and hold is not None:
        hold.mark(session, broadcast)
    return broadcast
