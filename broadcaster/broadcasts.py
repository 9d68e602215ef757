"""Broadcasts: one announcement to a segment at a time, and the states it moves through.

draft -> scheduled -> sending -> sent | partially_failed; scheduled -> cancelled | expired.
With approval on, a department's broadcast waits in `awaiting_approval` before `scheduled`.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from broadcaster.db import JSONType, UTCDateTime


class BroadcastStatus(StrEnum):
    draft = "draft"
    awaiting_approval = "awaiting_approval"
    scheduled = "scheduled"
    sending = "sending"
    sent = "sent"
    partially_failed = "partially_failed"
    cancelled = "cancelled"
    expired = "expired"


EDITABLE = frozenset(
    {BroadcastStatus.draft, BroadcastStatus.awaiting_approval, BroadcastStatus.scheduled}
)
FINISHED = frozenset(
    {
        BroadcastStatus.sent,
        BroadcastStatus.partially_failed,
        BroadcastStatus.cancelled,
        BroadcastStatus.expired,
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


class Broadcast(SQLModel, table=True):
    __tablename__ = "broadcast"
    __table_args__ = (sa.Index("ix_broadcast_due", "status", "send_at"),)

    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    title: str = Field(max_length=200)
    category: str = Field(max_length=64)
    kind: str = Field(default=BroadcastKind.announcement, max_length=32)
    priority: int = Field(default=Priority.normal)
    status: str = Field(default=BroadcastStatus.scheduled, max_length=32)
    # Exactly one of template_name (a file under templates/) and template_text (inline).
    template_name: str | None = Field(default=None, max_length=128)
    template_text: str | None = Field(default=None, sa_type=sa.Text)
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    # The rule actually used, copied at creation: editing the segment later changes nothing.
    segment_id: int | None = Field(default=None, index=True)
    segment_version: int | None = None
    rule: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    # Explicit recipients (follow-ups go to the original's recipients); overrides the rule.
    recipients_of: int | None = Field(default=None, foreign_key="broadcast.id")
    send_at: datetime = Field(sa_type=UTCDateTime)
    recurrence: str | None = Field(default=None, max_length=128)
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
    renderings: int = 0
    recipients_total: int = 0
    skipped_over_cap: int = 0
    quota_consumed: int = 0
    status_reason: str | None = Field(default=None, sa_type=sa.Text)
