"""How far a broadcast has got, and the moment it is finished.

Counts are always read from the Delivery and Batch rows, never kept as running totals,
so a retry, a 409 or a restarted worker can never count a resident twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from broadcaster import lifecycle
from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.db import table_of
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.logs import broadcast_finished

# A resident's delivery is settled in these states (nothing more will happen to it).
SETTLED = (
    DeliveryStatus.accepted,
    DeliveryStatus.failed,
    DeliveryStatus.unknown,
    DeliveryStatus.skipped_cap,
    DeliveryStatus.digested,
)


def _run(session: Session | Connection, statement: Any) -> sa.CursorResult[*tuple[Any, ...]]:
    connection = session if isinstance(session, Connection) else session.connection()
    return connection.execute(statement)


def delivery_counts_of(
    session: Session | Connection, broadcast_ids: list[int]
) -> dict[int, dict[str, int]]:
    """Residents by delivery status for each broadcast, every status present (0s).

    Read from the batches (each counts its recipients under its own status, `pending`
    as `queued`) plus the Delivery rows no batch carries (skipped, unrenderable,
    digested): exact whether or not the ledger has written the batches' rows yet.
    """
    counts = {b: {status.value: 0 for status in DeliveryStatus} for b in broadcast_ids}
    if not broadcast_ids:
        return counts
    delivery = table_of(Delivery)
    batch = table_of(Batch)
    unbatched = _run(
        session,
        sa.select(delivery.c.broadcast_id, delivery.c.status, sa.func.count())
        .where(delivery.c.broadcast_id.in_(broadcast_ids), delivery.c.batch_id.is_(None))
        .group_by(delivery.c.broadcast_id, delivery.c.status),
    ).all()
    batched = _run(
        session,
        sa.select(batch.c.broadcast_id, batch.c.status, sa.func.sum(batch.c.recipient_count))
        .where(batch.c.broadcast_id.in_(broadcast_ids))
        .group_by(batch.c.broadcast_id, batch.c.status),
    ).all()
    for broadcast_id, status, n in unbatched:
        counts[broadcast_id][str(status)] += int(n)
    for broadcast_id, status, n in batched:
        name = DeliveryStatus.queued.value if status == BatchStatus.pending.value else str(status)
        counts[broadcast_id][name] += int(n or 0)
    return counts


def delivery_counts(session: Session | Connection, broadcast_id: int) -> dict[str, int]:
    return delivery_counts_of(session, [broadcast_id])[broadcast_id]


def batch_counts(session: Session, broadcast_id: int) -> dict[str, int]:
    table = table_of(Batch)
    rows = _run(
        session,
        sa.select(table.c.status, sa.func.count())
        .where(table.c.broadcast_id == broadcast_id)
        .group_by(table.c.status),
    ).all()
    counts = {status.value: 0 for status in BatchStatus}
    counts.update({str(status): int(n) for status, n in rows})
    return counts


def finish_if_done(session: Session | Connection, broadcast_id: int, now: datetime) -> bool:
    """Finish a fully dispatched broadcast that has no pending batch left.

    `sent` when every batch was accepted, `partially_failed` when any delivery failed or
    its outcome is unknown. A conditional update, so of several workers only one
    finishes it. Returns whether this call finished it. The caller commits.
    """
    batch = table_of(Batch)
    pending = _run(
        session,
        sa.select(batch.c.id)
        .where(batch.c.broadcast_id == broadcast_id, batch.c.status == BatchStatus.pending.value)
        .limit(1),
    ).first()
    if pending is not None:
        return False
    counts = delivery_counts(session, broadcast_id)
    consumed = _run(
        session,
        sa.select(sa.func.coalesce(sa.func.sum(batch.c.recipient_count), 0)).where(
            batch.c.broadcast_id == broadcast_id, batch.c.status == BatchStatus.accepted.value
        ),
    ).scalar_one()
    troubled = counts[DeliveryStatus.failed] + counts[DeliveryStatus.unknown]
    reason: str | None = None
    if troubled:
        errors = _run(
            session,
            sa.select(batch.c.last_error)
            .where(
                batch.c.broadcast_id == broadcast_id,
                batch.c.status.in_([BatchStatus.failed.value, BatchStatus.unknown.value]),
            )
            .order_by(batch.c.id)
            .limit(1),
        ).scalar()
        reason = (
            f"{counts[DeliveryStatus.failed]} failed, {counts[DeliveryStatus.unknown]} unknown"
            + (f"; first error: {errors}" if errors else "")
        )
    status = BroadcastStatus.partially_failed if troubled else BroadcastStatus.sent
    finished = lifecycle.finish(
        session, broadcast_id, status, now, reason=reason, values={"quota_consumed": int(consumed)}
    )
    broadcast_finished(broadcast_id, status, counts, finished=finished)  # issue 17 log
    return finished


def broadcast_progress(session: Session, broadcast_id: int) -> dict[str, Any]:
    """Counts by delivery status and batch status, the fraction settled, and the times.

    Raises LookupError when there is no such broadcast.
    """
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise LookupError(f"no broadcast {broadcast_id}")
    counts = delivery_counts(session, broadcast_id)
    total = sum(counts.values())
    settled = sum(counts[s] for s in SETTLED)
    return {
        "status": broadcast.status,
        "recipients_total": broadcast.recipients_total or total,
        "dispatch_complete": broadcast.dispatched_at is not None,
        "deliveries": counts,
        "batches": batch_counts(session, broadcast_id),
        "progress": (settled / total) if total else (1.0 if broadcast.finished_at else 0.0),
        "started_at": broadcast.started_at,
        "dispatched_at": broadcast.dispatched_at,
        "finished_at": broadcast.finished_at,
        "renderings": broadcast.renderings,
        "skipped_over_cap": counts[DeliveryStatus.skipped_cap],
        "quota_consumed": broadcast.quota_consumed,
        "needs_attention": counts[DeliveryStatus.unknown] > 0,
        "status_reason": broadcast.status_reason,
    }
