"""How long per-resident records are kept ([retention] in config.toml).

Delivery rows say which resident got which message, and the outbox's batches list their
LINE user ids; both are needed while a broadcast is sent and for a while after (staff
questions, the frequency caps' week), not forever. Once a broadcast finished more than
`delivery_days` ago its delivery rows are deleted and its batches' recipient lists
emptied; the broadcast itself, its status, counts of batches and quota used stay.
Webhook event ids only guard against LINE's redeliveries, which come within hours.
A value of 0 keeps everything.

Console sessions and failed sign-ins are forgotten a day after they could last matter
(`SIGN_IN_HORIZON` past the longest session or lockout the settings allow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session

from broadcaster import staff_sessions
from broadcaster.batches import Batch
from broadcaster.broadcasts import Broadcast
from broadcaster.db import table_of
from broadcaster.deliveries import Delivery
from broadcaster.settings import RetentionSettings
from broadcaster.staff import prune_failures
from broadcaster.webhook_events import prune_webhook_events

CHUNK = 500  # broadcasts per statement, so one prune never holds a long write lock
# Longer than any session (console.session_hours <= 7 days) or lockout (<= 1 day), plus one.
SIGN_IN_HORIZON = timedelta(days=8)


@dataclass(frozen=True)
class Pruned:
    deliveries: int = 0
    batches: int = 0
    webhook_events: int = 0
    sign_ins: int = 0


def prune(session: Session, retention: RetentionSettings, now: datetime) -> Pruned:
    """Delete what is older than the retention settings, in the caller's transaction."""
    deliveries = batches = events = 0
    if retention.delivery_days:
        cutoff = now - timedelta(days=retention.delivery_days)
        broadcast, delivery, batch = table_of(Broadcast), table_of(Delivery), table_of(Batch)
        finished = [
            row[0]
            for row in session.execute(
                # Only broadcasts not pruned yet (they still have delivery rows).
                sa.select(broadcast.c.id).where(
                    broadcast.c.finished_at.is_not(None),
                    broadcast.c.finished_at < cutoff,
                    sa.exists().where(delivery.c.broadcast_id == broadcast.c.id),
                    # Every batch ledgered: none would later bring its rows back.
                    ~sa.exists().where(
                        batch.c.broadcast_id == broadcast.c.id, batch.c.ledgered_at.is_(None)
                    ),
                )
            ).all()
        ]
        for start in range(0, len(finished), CHUNK):
            ids = finished[start : start + CHUNK]
            deliveries += _count(session.execute(
                sa.delete(delivery).where(delivery.c.broadcast_id.in_(ids))
            ))
            batches += _count(session.execute(
                sa.update(batch)
                .where(batch.c.broadcast_id.in_(ids))
                .values(recipients=[], resident_ids=[])
            ))
    if retention.webhook_event_days:
        events = prune_webhook_events(
            session, older_than=now - timedelta(days=retention.webhook_event_days)
        )
    horizon = now - SIGN_IN_HORIZON
    sign_ins = staff_sessions.prune(session, horizon) + prune_failures(session, horizon)
    return Pruned(deliveries, batches, events, sign_ins)


def _count(result: sa.Result[Any]) -> int:
    # DELETE and UPDATE always yield a CursorResult; Session.execute is typed as Result.
    return int(cast(sa.CursorResult[Any], result).rowcount)
