"""A resident's data rights: everything we hold about one resident, and erasing it.

Erasure keeps the resident's row as an anonymous tombstone (`erased-<id>`, blocked, every
choice and attribute gone) rather than deleting it: delivery rows and broadcast counts
point at the internal id, so "1,204 residents received this" stays true while nothing in
the database can say who they were any more. The LINE user id is also removed from the
outbox's recipient lists. Both the export and the erasure are audited; the audit entry
names the internal id, never the LINE user id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from broadcaster import audit
from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcasts import Broadcast
from broadcaster.db import table_of
from broadcaster.deliveries import Delivery
from broadcaster.timestamps import city_iso, city_values
from segments.residents import (
    FollowState,
    Resident,
    ResidentAttribute,
    ResidentInterest,
    ResidentOptOut,
)

ERASED_PREFIX = "erased-"


class UnknownResident(LookupError):
    """No resident has that LINE user id (or it was erased already)."""

    def __init__(self) -> None:
        super().__init__("no resident with that LINE user id (never followed, or erased)")


class ErasureDeferred(RuntimeError):
    """A message to the resident is being sent now; erasing would change a batch in flight."""


def find(session: Session, line_user_id: str) -> Resident:
    resident = session.exec(
        select(Resident).where(Resident.line_user_id == line_user_id)
    ).first()
    if resident is None or resident.id is None:
        raise UnknownResident
    return resident


def export_resident(
    session: Session, line_user_id: str, *, actor: str, now: datetime
) -> dict[str, Any]:
    """Everything stored about the resident, as JSON-ready data; audits the request."""
    resident = find(session, line_user_id)
    rid = resident.id
    record = city_values(resident)
    interests = session.exec(
        select(ResidentInterest.interest).where(ResidentInterest.resident_id == rid)
    ).all()
    opt_outs = session.exec(
        select(ResidentOptOut.category).where(ResidentOptOut.resident_id == rid)
    ).all()
    attributes = session.exec(
        select(ResidentAttribute).where(ResidentAttribute.resident_id == rid)
    ).all()
    received = session.exec(
        select(Delivery, Broadcast)
        .join(Broadcast, col(Broadcast.id) == col(Delivery.broadcast_id))
        .where(Delivery.resident_id == rid)
        .order_by(col(Delivery.id))
    ).all()
    audit.record(
        session, at=now, actor=actor, action="resident.export", entity="resident", entity_id=rid
    )
    return {
        "exported_at": city_iso(now),
        "resident": record,
        "interests": sorted(interests),
        "opted_out_of": sorted(opt_outs),
        "verified_attributes": [city_values(a, exclude={"resident_id"})
                                for a in attributes],
        "messages": [
            {
                "broadcast_id": broadcast.id,
                "title": broadcast.title,
                "category": broadcast.category,
                "sent_at": city_iso(broadcast.send_at),
                "status": delivery.status,
                "accepted_at": city_iso(delivery.accepted_at) if delivery.accepted_at else None,
            }
            for delivery, broadcast in received
        ],
    }


def erase_resident(session: Session, line_user_id: str, *, actor: str, now: datetime) -> int:
    """Erase the resident's identity and choices in the caller's transaction.

    Returns the internal id (kept, anonymous). Raises UnknownResident, or ErasureDeferred
    while a batch addressed to them is still pending (nothing is changed then).
    """
    resident = find(session, line_user_id)
    rid = resident.id
    assert rid is not None
    batches = _batches_addressed_to(session, line_user_id)
    if any(batch.status == BatchStatus.pending for batch in batches):
        raise ErasureDeferred(
            "a message to this resident is being sent right now; try again in a few minutes"
        )
    for batch in batches:
        batch.recipients = [user for user in batch.recipients if user != line_user_id]
        session.add(batch)
    for model in (ResidentInterest, ResidentOptOut, ResidentAttribute):
        table = table_of(model)
        session.execute(sa.delete(table).where(table.c.resident_id == rid))
    resident.line_user_id = f"{ERASED_PREFIX}{rid}"
    resident.follow_state = FollowState.blocked
    resident.district = resident.garbage_zone = None
    resident.birth_date = None
    resident.birth_year = None
    resident.verified_at = None
    resident.verified_by = None
    resident.enrollment_step = None
    resident.language = "ja"
    resident.blocked_at = resident.blocked_at or now
    resident.updated_at = now
    session.add(resident)
    audit.record(
        session, at=now, actor=actor, action="resident.erase", entity="resident", entity_id=rid,
        after={"batches_scrubbed": len(batches)},
    )
    session.flush()
    return rid


def _batches_addressed_to(session: Session, line_user_id: str) -> list[Batch]:
    """Batches whose recipient list holds the id (a text match narrows, Python decides)."""
    table = table_of(Batch)
    candidates = session.exec(
        select(Batch).where(sa.cast(table.c.recipients, sa.Text).contains(line_user_id))
    ).all()
    return [batch for batch in candidates if line_user_id in batch.recipients]
