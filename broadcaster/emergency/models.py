"""Tables of the emergency desk: orders sent, drafts made from alert feeds, alerts received.

An Emergency is one evacuation order (its original broadcast) and the follow-ups that went
to the same recipients. A draft is what an alert feed proposes; only a person confirms it.
Every alert document received is kept (raw) whatever became of it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from broadcaster.db import JSONType, UTCDateTime


class EmergencyStatus(StrEnum):
    active = "active"
    lifted = "lifted"


class Emergency(SQLModel, table=True):
    __tablename__ = "emergency"

    id: int | None = Field(default=None, primary_key=True)
    level: int
    kind: str = Field(max_length=32)
    districts: list[str] = Field(sa_type=JSONType)
    text: str = Field(default="", sa_type=sa.Text)
    # The desk's free text per resident language (ja is `text`).
    texts: dict[str, str] = Field(default_factory=dict, sa_type=JSONType)
    drill: bool = Field(default=False, index=True)
    status: str = Field(default=EmergencyStatus.active, max_length=16)
    # Disaster mode: while active (level >= 3), routine broadcasts to its districts are held
    # unless the desk turned that off for this order (`disaster_mode.must_hold`).
    hold_routine: bool = Field(default=True)
    # The original order's broadcast: follow-ups go to its recipients.
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id")
    # The draft it was confirmed from (no foreign key: drafts point back at emergencies).
    draft_id: int | None = None
    department_id: int = Field(foreign_key="department.id")
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    lifted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DraftStatus(StrEnum):
    open = "open"
    confirmed = "confirmed"
    cancelled = "cancelled"


class EmergencyDraft(SQLModel, table=True):
    __tablename__ = "emergency_draft"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=DraftStatus.open, max_length=16, index=True)
    source: str = Field(max_length=8)
    identifier: str = Field(max_length=256)
    sender: str = Field(max_length=256)
    sent_at: datetime = Field(sa_type=UTCDateTime)
    serial: int | None = None
    title: str = Field(default="", max_length=500)
    level: int | None = None
    kind: str | None = Field(default=None, max_length=32)
    # A notice for the desk (記録的短時間大雨情報, a CAP alert mapped to "information"):
    # no level is proposed; the desk may still choose one and send.
    information: bool = False
    districts: list[str] = Field(default_factory=list, sa_type=JSONType)
    unmapped_areas: list[str] = Field(default_factory=list, sa_type=JSONType)
    text: str = Field(default="", sa_type=sa.Text)
    # From a CAP Exercise/Test or JMA 訓練/試験 alert: can only ever be sent as a drill.
    drill: bool = False
    emergency_id: int | None = Field(default=None, foreign_key="emergency.id")
    # Set when the feed cancels or lifts an alert already sent: staff should send 解除/訂正.
    attention: str | None = Field(default=None, sa_type=sa.Text)
    history: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class DraftThread(SQLModel, table=True):
    """Which draft an alert thread belongs to (a CAP sender+identifier, a JMA title+EventID)."""

    __tablename__ = "emergency_draft_thread"

    key: str = Field(primary_key=True, max_length=400)
    draft_id: int = Field(foreign_key="emergency_draft.id", index=True)


class AlertRecord(SQLModel, table=True):
    """One alert document as received, and what it led to."""

    __tablename__ = "alert_record"
    __table_args__ = (
        sa.UniqueConstraint("source", "sender", "identifier", name="uq_alert_record_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    source: str = Field(max_length=8)
    identifier: str = Field(max_length=256)
    sender: str = Field(max_length=256)
    sent_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(max_length=16)
    msg_type: str = Field(max_length=16)
    # Control/Title (JMA) or the event (CAP); empty for a refused document.
    title: str = Field(default="", max_length=200)
    outcome: str = Field(max_length=32, index=True)
    # Why it was refused, not acted on or outside the city, in one line.
    reason: str | None = Field(default=None, sa_type=sa.Text)
    draft_id: int | None = Field(default=None, foreign_key="emergency_draft.id")
    raw: str = Field(sa_type=sa.Text)


class AlertFeed(SQLModel, table=True):
    """One polled Atom feed: its validators for conditional requests and its health. A
    failed poll changes only the error fields, so the last good state stays."""

    __tablename__ = "alert_feed"

    url: str = Field(primary_key=True, max_length=1000)
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consecutive_failures: int = 0


class AlertFeedEntry(SQLModel, table=True):
    """A feed entry we fetched (or tried to): JMA blocks clients that fetch twice."""

    __tablename__ = "alert_feed_entry"

    entry_id: str = Field(primary_key=True, max_length=1000)
    feed_url: str = Field(max_length=1000, index=True)
    link: str = Field(max_length=1000)
    title: str = Field(default="", max_length=200)
    status: str = Field(default="pending", max_length=16)  # pending | done | failed | skipped
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    record_id: int | None = Field(default=None, foreign_key="alert_record.id")
    seen_at: datetime = Field(sa_type=UTCDateTime)
    fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
