"""Changing a broadcast that exists: editing it, cancelling it, approving it.

An edit is checked exactly as a creation is (broadcaster.broadcast_requests), starting from
the request that would recreate the broadcast. A change to a broadcast that is past changing
is `BroadcastConflict` (the API answers 409); an invalid one is `BroadcastRefused` (422).
Each function works in the caller's transaction and writes its audit entry there, so the
change and its record land together or not at all; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from broadcaster import lifecycle, policies
from broadcaster.broadcast_creation import STORED_FIELDS, initial_status, unsaved
from broadcaster.broadcast_requests import BroadcastRefused, BroadcastRequest, check_request
from broadcaster.broadcasts import EDITABLE, Broadcast, BroadcastStatus
from broadcaster.errors import Conflict
from broadcaster.render import Renderer
from broadcaster.settings import Settings


class BroadcastConflict(Conflict, RuntimeError):
    """The broadcast is in a status that does not allow this change."""

    def __init__(self, broadcast: Broadcast, action: str) -> None:
        super().__init__(
            "broadcast.conflict",
            f"broadcast {broadcast.id} is {broadcast.status}; it can no longer be {action}",
            ident=broadcast.id,
            status=str(broadcast.status),
        )
        self.status = broadcast.status


def request_from(broadcast: Broadcast) -> BroadcastRequest:
    """The request that would recreate `broadcast` (the base an update edits): every
    request field that is a column is read by name, so an edit keeps what it did not
    change (a garbage reminder's quiet_hours_exempt, say)."""
    hold = policies.hold()
    return BroadcastRequest(
        **{name: getattr(broadcast, name) for name in STORED_FIELDS},
        priority=broadcast.priority,
        parameters=broadcast.parameters,
        rule=None if broadcast.segment_id is not None else (broadcast.rule or None),
        send_at=broadcast.send_at,
        draft=broadcast.status == BroadcastStatus.draft,
        digest=hold is not None and hold.is_marked(broadcast),
    )


def update_broadcast(
    session: Session,
    broadcast: Broadcast,
    actor_label: str,
    changes: Mapping[str, Any],
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    needs_approval: bool = False,
) -> Broadcast:
    """Apply `changes` (BroadcastRequest field names) and check the result as at creation.

    Setting `rule` drops the saved segment and vice versa; `draft: False` schedules a draft.
    An edit of an approved broadcast sends it back for approval when `needs_approval`.
    Raises BroadcastConflict once it is sending or finished, BroadcastRefused when invalid.
    """
    if broadcast.status not in EDITABLE:
        raise BroadcastConflict(broadcast, "edited")
    before = lifecycle.snapshot(broadcast)
    base = request_from(broadcast)
    updates = dict(changes)
    if "rule" in updates and "segment_id" not in updates:
        updates["segment_id"] = None
    if "segment_id" in updates and "rule" not in updates:
        updates["rule"] = None
    if "template_text" in updates and "template_name" not in updates:
        updates["template_name"] = None
    if "template_name" in updates and "template_text" not in updates:
        updates["template_text"] = None
    request = replace(base, **updates)
    checked = check_request(session, request, settings, renderer, now)
    edited = unsaved(request, checked, broadcast.department_id, broadcast.created_by, now)
    for name in (*STORED_FIELDS, "priority", "parameters", "rule", "segment_version", "send_at"):
        setattr(broadcast, name, getattr(edited, name))
    broadcast.updated_at = now
    session.add(broadcast)
    hold = policies.hold()
    if hold is not None and request.digest:
        hold.mark(session, broadcast)
    elif hold is not None:
        hold.unmark(session, broadcast)
    if not lifecycle.settle_edit(
        session,
        broadcast,
        initial_status(request, settings, needs_approval),
        actor=actor_label,
        now=now,
        before=before,
    ):
        raise BroadcastConflict(broadcast, "edited")
    return broadcast


def cancel_broadcast(
    session: Session, broadcast: Broadcast, actor_label: str, now: datetime
) -> Broadcast:
    """Cancel before it is sent. Raises BroadcastConflict once sending or finished."""
    if not lifecycle.cancel(session, broadcast, actor=actor_label, now=now):
        session.refresh(broadcast)
        raise BroadcastConflict(broadcast, "cancelled")
    return broadcast


def approve_broadcast(
    session: Session, broadcast: Broadcast, actor_label: str, settings: Settings, now: datetime
) -> Broadcast:
    """An admin's approval: awaiting_approval -> scheduled.

    Raises BroadcastConflict in any other status, BroadcastRefused when its send time has
    passed by more than the allowed lateness (edit send_at first: it would only expire).
    """
    if broadcast.status != BroadcastStatus.awaiting_approval:
        raise BroadcastConflict(broadcast, "approved")
    lateness = timedelta(minutes=settings.scheduling.max_lateness_minutes)
    if now - broadcast.send_at > lateness:
        raise BroadcastRefused(
            f"send_at {broadcast.send_at.astimezone(settings.tz):%Y-%m-%d %H:%M} JST has passed; "
            "set a new send_at before approving",
            "send_at",
            "broadcast.approval_too_late",
            at=f"{broadcast.send_at.astimezone(settings.tz):%Y-%m-%d %H:%M}",
        )
    if not lifecycle.approve(session, broadcast, actor=actor_label, now=now):
        session.refresh(broadcast)
        raise BroadcastConflict(broadcast, "approved")
    return broadcast
