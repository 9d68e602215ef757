"""Batches: the outbox. At most 500 recipients, one payload, one retry key.

A batch row, its recipients and its `X-Line-Retry-Key` are committed before the first HTTP
attempt; every retry reuses the key so LINE can refuse a duplicate with 409.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from broadcaster.db import JSONType, UTCDateTime


class BatchStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    failed = "failed"
    # Outcome unknown and LINE's 24 h retry-key memory has passed: staff must decide.
    unknown = "unknown"


class Endpoint(StrEnum):
    multicast = "multicast"
    push = "push"


class Batch(SQLModel, table=True):
    __tablename__ = "batch"
    __table_args__ = (
        sa.Index("ix_batch_claim", "status", "priority", "next_attempt_at"),
        # "Is any batch of this broadcast still pending?" after every group of results.
        sa.Index("ix_batch_broadcast_status", "broadcast_id", "status"),
        # The ledger's backlog: batches whose Delivery rows are still to be written.
        sa.Index("ix_batch_unledgered", "broadcast_id", sqlite_where=sa.text("ledgered_at IS NULL"),
                 postgresql_where=sa.text("ledgered_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id")
    priority: int = 0
    endpoint: str = Field(default=Endpoint.multicast, max_length=16)
    messages: list[dict[str, Any]] = Field(sa_type=JSONType)
    recipients: list[str] = Field(sa_type=JSONType)
    # The residents behind `recipients`, in the same order: the batch is the record of who
    # it is for; their Delivery rows are derived from it later (see `ledger`).
    resident_ids: list[int] = Field(default_factory=list, sa_type=JSONType)
    recipient_count: int
    retry_key: str = Field(max_length=36, unique=True)
    status: str = Field(default=BatchStatus.pending, max_length=16)
    attempts: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    first_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    line_request_id: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The render context (JSON of the plan's context values): a resumed dispatch reuses
    # this batch's messages for the same context instead of rendering again.
    context_key: str | None = Field(default=None, sa_type=sa.Text)
    # When its Delivery rows were written (None: not yet; see `ledger`).
    ledgered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
