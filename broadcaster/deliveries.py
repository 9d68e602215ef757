"""Deliveries: one resident's record of one broadcast.

Unique per (broadcast, resident), so no retry, restart or second replica can count a
resident twice.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from broadcaster.db import UTCDateTime


class DeliveryStatus(StrEnum):
    queued = "queued"
    accepted = "accepted"
    failed = "failed"
    unknown = "unknown"
    # Not sent: over the per-resident frequency cap (counted, never silently dropped).
    skipped_cap = "skipped_cap"
    # Not sent now: folded into the resident's digest (まとめ配信).
    digested = "digested"


class Delivery(SQLModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (
        # The only index besides the key and batch_id: a million-recipient send writes and
        # then updates every row, and each extra index costs ~2 us a row each time. Counts
        # by status and the frequency caps read through this (broadcast_id, …) prefix.
        sa.UniqueConstraint("broadcast_id", "resident_id", name="uq_delivery_broadcast_resident"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # No foreign keys: only the outbox writes these rows, in its batch's own transaction,
    # from ids it has just read (and broadcasts and residents are never deleted). On
    # PostgreSQL the three per-row key checks made writing an evacuation order's 50,000
    # rows three times slower (0.6 s -> 0.2 s), and its sending waited for them.
    broadcast_id: int
    batch_id: int | None = Field(default=None, index=True)
    resident_id: int
    status: str = Field(default=DeliveryStatus.queued, max_length=16)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, sa_type=sa.Text)
