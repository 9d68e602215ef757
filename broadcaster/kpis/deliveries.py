"""Deliveries per fiscal year: broadcasts and messages per department and month.

Counted from the outbox's batches, the record of what LINE accepted: a broadcast counts in
the month its first batch was accepted (Asia/Tokyo), and its messages are the recipients
of its accepted batches (LINE counts one message per recipient per request, whatever the
number of bubbles, and so does its monthly quota). Cancelled, expired and never-sent
broadcasts have no accepted batch and do not count.

Classes, reported apart because a plan's "segment deliveries" target means notices staff
chose to send: `notice` (announcements, benefits, corrections other than garbage, digests),
`emergency` (evacuation orders and other emergencies, not drills), `drill` (訓練),
`garbage` (the calendar's reminders and corrections, sent automatically).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session

from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcasts import Broadcast, BroadcastKind, Priority
from broadcaster.clock import as_utc
from broadcaster.db import UTCDateTime, table_of
from broadcaster.departments import Department
from broadcaster.kpis.fiscal import month_of

GARBAGE_CATEGORY = "garbage"


class DeliveryClass(StrEnum):
    notice = "notice"
    emergency = "emergency"
    drill = "drill"
    garbage = "garbage"


# The classes a plan's "segment deliveries per year" counts (Masuda's 76 included its 17
# emergencies); drills and the automatic garbage reminders are reported apart.
COUNTED = frozenset({DeliveryClass.notice, DeliveryClass.emergency})


def classify(kind: str, category: str, priority: int, drill: bool) -> DeliveryClass:
    if drill:
        return DeliveryClass.drill
    if kind == BroadcastKind.emergency or priority >= Priority.emergency:
        return DeliveryClass.emergency
    if kind == BroadcastKind.garbage_reminder or category == GARBAGE_CATEGORY:
        return DeliveryClass.garbage
    return DeliveryClass.notice


@dataclass(frozen=True, slots=True)
class SentBroadcast:
    """One broadcast LINE accepted at least one batch of."""

    broadcast_id: int
    department: str
    title: str
    delivery_class: DeliveryClass
    first_accepted_at: datetime
    recipients: int


def sent_broadcasts(session: Session, start: datetime, end: datetime) -> list[SentBroadcast]:
    """Broadcasts whose first accepted batch falls in [start, end), oldest first."""
    batch = table_of(Batch)
    broadcast = table_of(Broadcast)
    department = table_of(Department)
    per_broadcast = (
        sa.select(
            batch.c.broadcast_id,
            sa.func.min(batch.c.accepted_at, type_=UTCDateTime()).label("first"),
            sa.func.sum(batch.c.recipient_count).label("recipients"),
        )
        .where(batch.c.status == BatchStatus.accepted)
        .group_by(batch.c.broadcast_id)
        .subquery()
    )
    query = (
        sa.select(
            broadcast.c.id,
            department.c.name,
            broadcast.c.title,
            broadcast.c.kind,
            broadcast.c.category,
            broadcast.c.priority,
            broadcast.c.drill,
            per_broadcast.c.first,
            per_broadcast.c.recipients,
        )
        .join(per_broadcast, per_broadcast.c.broadcast_id == broadcast.c.id)
        .join(department, department.c.id == broadcast.c.department_id)
        .where(per_broadcast.c.first >= start, per_broadcast.c.first < end)
        .order_by(per_broadcast.c.first, broadcast.c.id)
    )
    return [
        SentBroadcast(
            broadcast_id=row.id,
            department=row.name,
            title=row.title,
            delivery_class=classify(row.kind, row.category, row.priority, bool(row.drill)),
            first_accepted_at=as_utc(row.first),
            recipients=int(row.recipients or 0),
        )
        for row in session.connection().execute(query)
    ]


@dataclass(slots=True)
class Tally:
    broadcasts: int = 0
    messages: int = 0

    def add(self, sent: SentBroadcast) -> None:
        self.broadcasts += 1
        self.messages += sent.recipients


@dataclass(slots=True)
class DeliveryFigures:
    """Per (department, class) and per (month, class) tallies, and the counted total."""

    by_department: dict[tuple[str, DeliveryClass], Tally] = field(
        default_factory=lambda: defaultdict(Tally)
    )
    by_month: dict[tuple[str, DeliveryClass], Tally] = field(
        default_factory=lambda: defaultdict(Tally)
    )
    by_department_month: dict[tuple[str, str], Tally] = field(
        default_factory=lambda: defaultdict(Tally)
    )
    counted: Tally = field(default_factory=Tally)


def figures(sent: list[SentBroadcast], tz: tzinfo) -> DeliveryFigures:
    """Tally `sent` (pure)."""
    out = DeliveryFigures()
    for item in sent:
        month = month_of(item.first_accepted_at, tz)
        out.by_department[(item.department, item.delivery_class)].add(item)
        out.by_month[(month, item.delivery_class)].add(item)
        if item.delivery_class in COUNTED:
            out.by_department_month[(item.department, month)].add(item)
            out.counted.add(item)
    return out


def quota_by_month(session: Session, start: datetime, end: datetime, tz: tzinfo) -> dict[str, int]:
    """Messages LINE counted against the monthly quota, per local month: the recipients
    of every batch accepted in the month (a batch is one request)."""
    batch = table_of(Batch)
    used: dict[str, int] = defaultdict(int)
    rows = session.connection().execute(
        sa.select(batch.c.accepted_at, batch.c.recipient_count).where(
            batch.c.status == BatchStatus.accepted,
            batch.c.accepted_at >= start,
            batch.c.accepted_at < end,
        )
    )
    for accepted_at, recipients in rows:
        used[month_of(as_utc(accepted_at), tz)] += int(recipients)
    return dict(used)
