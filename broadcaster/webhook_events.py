"""Webhook events already applied, keyed by LINE's `webhookEventId`.

LINE may deliver one event more than once (redelivery after a non-2xx, and "for other
reasons"). The id is inserted first, in the same transaction that applies the event, with
ON CONFLICT DO NOTHING: of two concurrent deliveries exactly one inserts the row and applies
the event; the other sees zero rows inserted and skips it. If applying fails, the insert is
rolled back with it, so a redelivery can still apply the event.

No user id is stored here: the table is only a memory of ids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from broadcaster.db import UTCDateTime, table_of


class WebhookEvent(SQLModel, table=True):
    __tablename__ = "webhook_event"

    webhook_event_id: str = Field(primary_key=True, max_length=64)
    event_type: str = Field(max_length=32)
    # When the event happened (LINE's `timestamp`) and when we first received it.
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)


def claim_event(
    session: Session, webhook_event_id: str, event_type: str, occurred_at: datetime, now: datetime
) -> bool:
    """Insert the event's id; True if this transaction is the first to see it.

    On PostgreSQL a concurrent transaction holding the same id makes this wait until it
    commits (then False) or rolls back (then True).
    """
    values = {
        "webhook_event_id": webhook_event_id,
        "event_type": event_type[:32],
        "occurred_at": occurred_at,
        "received_at": now,
    }
    table = table_of(WebhookEvent)
    dialect = session.get_bind().dialect.name
    # Core, not the ORM bulk path, so RETURNING tells whether this insert won.
    statement: sa.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(table).values(**values).on_conflict_do_nothing(
            index_elements=["webhook_event_id"]
        )
    elif dialect == "sqlite":
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing(
            index_elements=["webhook_event_id"]
        )
    else:
        raise NotImplementedError(f"webhook de-duplication does not support {dialect}")
    returning = statement.returning(table.c.webhook_event_id)
    return session.execute(returning).first() is not None


def prune_webhook_events(session: Session, *, older_than: datetime) -> int:
    """Forget ids received before `older_than` (LINE redelivers within hours, not weeks)."""
    table = table_of(WebhookEvent)
    # A DELETE always yields a CursorResult; Session.execute is only typed as Result.
    result = cast(
        sa.CursorResult[Any],
        session.execute(sa.delete(table).where(table.c.received_at < older_than)),
    )
    return int(result.rowcount)
