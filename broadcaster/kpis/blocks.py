"""Blocks attributed to broadcasts: who blocked soon after receiving what.

A block is attributed to the last broadcast the resident received before it, if that was
at most `kpis.block_window_hours` (24 h) earlier; a block with no broadcast in the window
is unattributed. "Received" is when LINE accepted the resident's batch. The figure
answers the question segment delivery exists for: which notices drive residents away, so
that the evacuation order still reaches them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from broadcaster.batches import Batch, BatchStatus
from broadcaster.clock import as_utc
from broadcaster.db import UTCDateTime, table_of
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.kpis.deliveries import SentBroadcast
from broadcaster.kpis.models import FriendEvent, FriendEventKind

# Rows per IN list: well under SQLite's and PostgreSQL's bind-parameter limits.
CHUNK = 5000


@dataclass(frozen=True, slots=True)
class Block:
    resident_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Received:
    resident_id: int
    broadcast_id: int
    at: datetime


def attribute(
    blocks: Iterable[Block], received: Iterable[Received], window: timedelta
) -> tuple[dict[int, int], int]:
    """Broadcast id -> blocks attributed to it, and how many blocks had no broadcast in
    the window (pure)."""
    by_resident: dict[int, list[Received]] = defaultdict(list)
    for item in received:
        by_resident[item.resident_id].append(item)
    attributed: dict[int, int] = defaultdict(int)
    unattributed = 0
    for block in blocks:
        candidates = [
            r
            for r in by_resident.get(block.resident_id, ())
            if block.at - window <= r.at <= block.at
        ]
        if not candidates:
            unattributed += 1
            continue
        last = max(candidates, key=lambda r: (r.at, r.broadcast_id))
        attributed[last.broadcast_id] += 1
    return dict(attributed), unattributed


def blocks_between(session: Session, start: datetime, end: datetime) -> list[Block]:
    events = table_of(FriendEvent)
    rows = session.connection().execute(
        sa.select(events.c.resident_id, events.c.occurred_at).where(
            events.c.kind == FriendEventKind.unfollow,
            events.c.occurred_at >= start,
            events.c.occurred_at < end,
        )
    )
    return [Block(resident_id, as_utc(at)) for resident_id, at in rows]


def received_by(
    session: Session, resident_ids: Sequence[int], broadcast_ids: Sequence[int]
) -> list[Received]:
    """What these residents received of these broadcasts, with when LINE accepted it.

    Both lists are small (the year's blockers, the year's broadcasts), and the pair is
    the delivery table's unique key, so this reads the index, not the table."""
    delivery = table_of(Delivery)
    batch = table_of(Batch)
    out: list[Received] = []
    for residents in _chunks(resident_ids):
        for broadcasts in _chunks(broadcast_ids):
            rows = session.connection().execute(
                sa.select(
                    delivery.c.resident_id,
                    delivery.c.broadcast_id,
                    sa.func.coalesce(
                        delivery.c.accepted_at, batch.c.accepted_at, type_=UTCDateTime()
                    ),
                )
                .join(batch, batch.c.id == delivery.c.batch_id)
                .where(
                    delivery.c.broadcast_id.in_(broadcasts),
                    delivery.c.resident_id.in_(residents),
                    delivery.c.status == DeliveryStatus.accepted,
                    batch.c.status == BatchStatus.accepted,
                )
            )
            out.extend(
                Received(resident_id, broadcast_id, as_utc(at))
                for resident_id, broadcast_id, at in rows
                if at is not None
            )
    return out


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


@dataclass(frozen=True, slots=True)
class AttributedBlocks:
    per_broadcast: dict[int, int]
    unattributed: int
    total: int


def attributed_blocks(
    session: Session,
    sent: Sequence[SentBroadcast],
    start: datetime,
    end: datetime,
    window: timedelta,
    earlier: Sequence[SentBroadcast] = (),
) -> AttributedBlocks:
    """Blocks in [start, end) attributed among `sent` (and `earlier`: broadcasts from the
    window before `start`, which a block just after the year began may follow)."""
    blocks = blocks_between(session, start, end)
    broadcast_ids = sorted({s.broadcast_id for s in (*earlier, *sent)})
    resident_ids = sorted({b.resident_id for b in blocks})
    received = received_by(session, resident_ids, broadcast_ids) if blocks and broadcast_ids else []
    per_broadcast, unattributed = attribute(blocks, received, window)
    return AttributedBlocks(per_broadcast, unattributed, len(blocks))
