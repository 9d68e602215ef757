"""Broadcasts: one announcement to a segment at a time, and the states it moves through.

draft -> scheduled -> sending -> sent | partially_failed | failed; scheduled -> cancelled |
expired | failed. With approval on, a department's broadcast waits in `awaiting_approval`
before `scheduled`. The moves themselves live in `broadcaster.lifecycle`, the only writer.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from broadcaster.db import JSONType, UTCDateTime
from broadcaster.inputs import CityDateTime, Id
from broadcaster.timestamps import CityTimestamp


class BroadcastStatus(StrEnum):
    draft = "draft"
    awaiting_approval = "awaiting_approval"
    scheduled = "scheduled"
    sending = "sending"
    sent = "sent"
    partially_failed = "partially_failed"
    cancelled = "cancelled"
    expired = "expired"
    # The dispatch could not complete (the template no longer prepares, the database
    # refused the audience query); `status_reason` says why.
    failed = "failed"
    # Waiting while a disaster is on (an order of level 3+ in a district it reaches);
    # `status_reason` says which order. Released (scheduled again) after the lift.
    held = "held"


EDITABLE = frozenset(
    {
        BroadcastStatus.draft,
        BroadcastStatus.awaiting_approval,
        BroadcastStatus.scheduled,
        BroadcastStatus.held,
    }
)
FINISHED = frozenset(
    {
        BroadcastStatus.sent,
        BroadcastStatus.partially_failed,
        BroadcastStatus.cancelled,
        BroadcastStatus.expired,
        BroadcastStatus.failed,
    }
)


class BroadcastKind(StrEnum):
    announcement = "announcement"
    garbage_reminder = "garbage_reminder"
    correction = "correction"
    emergency = "emergency"
    benefit = "benefit"
    digest = "digest"


class Priority(IntEnum):
    """Higher goes first: an emergency batch is claimed before any normal one."""

    normal = 0
    emergency = 100


def is_emergency(priority: int) -> bool:
    """The one threshold: at this priority a broadcast goes first and ignores every limit."""
    return priority >= Priority.emergency


PriorityName = Literal["normal", "emergency"]
RECURRENCE_HELP = (
    "Repeat: 'minute hour day month day_of_week' in Asia/Tokyo. Fields take *, numbers,"
    " a-b, a,b, */n; day_of_week takes mon..sun or 0-7 (0 and 7 = Sunday), mon#1..mon#5"
    " (first..fifth Monday) and fri#L (last Friday). Day and day_of_week both set must"
    " both hold. Each firing is its own broadcast row; firings in quiet hours are"
    " skipped. E.g. '0 9 * * mon#1', '30 7 * * mon-fri', '0 10 1 * *'."
)


# One family (full-stack-fastapi-template's ItemBase/Item/ItemCreate/ItemUpdate/ItemPublic):
# what staff write is declared once, in BroadcastBase, and the table and every API shape
# inherit it, so no shape can drop a field by hand-mapping.
class BroadcastBase(SQLModel):
    """What staff write: shared by the table and the create, update and public shapes."""

    title: str = Field(max_length=200)
    category: str = Field(max_length=64, description="one of settings residents.categories")
    # Exactly one of template_name (a file under templates/) and template_text (inline).
    template_name: str | None = Field(
        default=None, max_length=128, description="a template under templates/"
    )
    template_text: str | None = Field(
        default=None, sa_type=sa.Text, description="inline Jinja2 template"
    )
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    segment_id: int | None = Field(
        default=None, index=True, description="a saved segment (its current version is copied)"
    )
    recurrence: str | None = Field(default=None, max_length=128, description=RECURRENCE_HELP)


class Broadcast(BroadcastBase, table=True):
    __tablename__ = "broadcast"
    __table_args__ = (sa.Index("ix_broadcast_due", "status", "send_at"),)

    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    kind: str = Field(default=BroadcastKind.announcement, max_length=32)
    priority: int = Field(default=Priority.normal)
    # Written by broadcaster.lifecycle only.
    status: str = Field(default=BroadcastStatus.scheduled, max_length=32)
    # The rule actually used, copied at creation: editing the segment later changes nothing.
    segment_version: int | None = None
    rule: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    # Explicit recipients (follow-ups go to the original's recipients); overrides the rule.
    recipients_of: int | None = Field(default=None, foreign_key="broadcast.id")
    send_at: datetime = Field(sa_type=UTCDateTime)
    # Emergencies and some notices ignore quiet hours, caps and opt-outs.
    bypass_limits: bool = False
    # Sent at a time the resident chose (a 06:30 garbage reminder): quiet hours do not
    # apply, but opt-outs and caps still do.
    quiet_hours_exempt: bool = False
    drill: bool = False
    parent_id: int | None = Field(default=None, foreign_key="broadcast.id", index=True)
    source: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    created_by: str = Field(default="", max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=128)
    dispatched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Who writes its outbox now (`replica:boot`) and until when at most (see replicas):
    # a resume takes over only a dead writer's or an expired lease.
    dispatch_owner: str | None = Field(default=None, max_length=64)
    dispatch_lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    renderings: int = 0
    recipients_total: int = 0
    skipped_over_cap: int = 0
    quota_consumed: int = 0
    status_reason: str | None = Field(default=None, sa_type=sa.Text)


class BroadcastCreate(BroadcastBase):
    """POST /broadcasts."""

    title: str = Field(min_length=1, max_length=200)
    # Boundary types: an id past 64 bits or a date that overflows is refused with 422.
    segment_id: Id | None = Field(  # type: ignore[assignment]
        default=None, description="a saved segment (its current version is copied)"
    )
    rule: dict[str, Any] | None = Field(
        default=None, description="an inline segment rule; none: everyone"
    )
    send_at: CityDateTime | Literal["now"] = Field(
        default="now", description="Asia/Tokyo when no offset is given, or 'now'"
    )
    draft: bool = False
    priority: PriorityName = "normal"
    digest: bool = Field(default=False, description="fold into the day's まとめ配信")


class BroadcastUpdate(BroadcastBase):
    """PATCH /broadcasts/{id}: only the fields given change."""

    title: str | None = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    category: str | None = None  # type: ignore[assignment]
    parameters: dict[str, Any] | None = None  # type: ignore[assignment]
    segment_id: Id | None = None  # type: ignore[assignment]
    rule: dict[str, Any] | None = None
    send_at: CityDateTime | Literal["now"] | None = None
    draft: bool | None = None
    digest: bool | None = None


class BroadcastPublic(BroadcastBase):
    """A broadcast as the API shows it (times in Asia/Tokyo)."""

    id: int
    department_id: int
    kind: str
    priority: PriorityName
    status: str
    status_reason: str | None
    segment_version: int | None
    rule: dict[str, Any]
    recipients_of: int | None
    parent_id: int | None
    send_at: CityTimestamp
    digest: bool
    drill: bool
    quiet_hours_exempt: bool
    created_by: str
    created_at: CityTimestamp
    updated_at: CityTimestamp
    approved_by: str | None
    dispatched_at: CityTimestamp | None
    finished_at: CityTimestamp | None
    recipients_total: int
    skipped_over_cap: int
    quota_consumed: int

