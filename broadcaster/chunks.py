"""A chunk of the outbox: batches and the deliveries no batch carries, one transaction.

A dispatch fills batches in memory and writes them a chunk at a time, so the worker can
send the first batches while later ones are still being read. Each chunk is committed on
its own (its batches with their retry keys; residents over cap or unrenderable as
Delivery rows of their own), and whoever waits for work is told (`on_commit`). A normal
chunk first waits while an emergency's outbox is being written (`delivery.gate`).

A batch also stores its render context's key, so a resumed dispatch reuses the messages
rendered before the crash (`rendered_before`) instead of rendering again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from broadcaster.batches import Batch, BatchStatus, Endpoint
from broadcaster.broadcasts import Broadcast
from broadcaster.db import table_of
from broadcaster.deliveries import Delivery
from broadcaster.delivery.gate import EmergencyGate

Context = tuple[Any, ...]
# (resident_id, status, error) of a delivery written without a batch (capped, unrenderable).
Other = tuple[int, str, str | None]


@dataclass
class Chunk:
    """What the next transaction writes: (context, resident ids, user ids) per batch."""

    batches: list[tuple[Context, list[int], list[str]]] = field(default_factory=list)
    others: list[Other] = field(default_factory=list)
    renderings: int = 0


@dataclass(frozen=True)
class Written:
    batches: int
    recipients: int


def run(session: Session, statement: Any, params: Any = None) -> sa.CursorResult[*tuple[Any, ...]]:
    """Core execution inside the session's transaction (SQLModel deprecates `execute`)."""
    return session.connection().execute(statement, params)


def context_key(context: Context) -> str:
    return json.dumps(list(context), ensure_ascii=False, default=str)


def rendered_before(session: Session, broadcast_id: int) -> dict[str, list[dict[str, Any]]]:
    """Messages already rendered for each context, from this broadcast's batches."""
    batch = table_of(Batch)
    first = (
        sa.select(sa.func.min(batch.c.id))
        .where(batch.c.broadcast_id == broadcast_id, batch.c.context_key.is_not(None))
        .group_by(batch.c.context_key)
    )
    rows = run(
        session, sa.select(batch.c.context_key, batch.c.messages).where(batch.c.id.in_(first))
    )
    return {key: messages for key, messages in rows}


def insert_deliveries(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """(broadcast_id, batch_id, resident_id, status, error) rows straight to the DBAPI's
    executemany: the ORM/Core per-row parameter processing costs more than the insert."""
    connection = session.connection()
    marks = "?, ?, ?, ?, ?" if connection.dialect.paramstyle == "qmark" else "%s, %s, %s, %s, %s"
    connection.exec_driver_sql(
        f"INSERT INTO {Delivery.__tablename__} (broadcast_id, batch_id, resident_id, status, "
        f"error) VALUES ({marks})",
        rows,  # type: ignore[arg-type]
    )


def write(
    session: Session,
    broadcast: Broadcast,
    chunk: Chunk,
    rendered: Mapping[Context, list[dict[str, Any]] | str],
    now: datetime,
    on_commit: Callable[[], None] | None,
    gate: EmergencyGate | None,
    patience: float,
) -> Written:
    """One transaction: the chunk's batches (with retry keys) and all their deliveries;
    `on_commit` is told when they are committed (a worker waiting for work, say)."""
    broadcast_id = broadcast.id
    assert broadcast_id is not None
    if not chunk.batches and not chunk.others and not chunk.renderings:
        return Written(0, 0)
    if gate is not None:
        # The worker sends emergency batches first, but they must exist: on SQLite two
        # dispatches take turns for the one write lock, and a normal chunk holding it
        # doubled the time an evacuation order took to be queued.
        gate.wait_clear(max(0.0, patience - time.monotonic()))
    batches = recipients = 0
    others: list[tuple[Any, ...]] = [
        (broadcast_id, None, resident_id, status, error)
        for resident_id, status, error in chunk.others
    ]
    if chunk.batches:
        batch_rows = [
            {
                "broadcast_id": broadcast_id,
                "priority": broadcast.priority,
                "endpoint": (Endpoint.push if len(user_ids) == 1 else Endpoint.multicast).value,
                "messages": rendered[context],
                "recipients": user_ids,
                "resident_ids": resident_ids,
                "recipient_count": len(user_ids),
                "retry_key": str(uuid.uuid4()),
                "status": BatchStatus.pending.value,
                "attempts": 0,
                "created_at": now,
                "context_key": context_key(context),
            }
            for context, resident_ids, user_ids in chunk.batches
        ]
        ids = (
            run(
                session,
                sa.insert(table_of(Batch)).returning(
                    table_of(Batch).c.id, sort_by_parameter_order=True
                ),
                batch_rows,
            )
            .scalars()
            .all()
        )
        batches = len(ids)
        recipients = sum(len(resident_ids) for _, resident_ids, _ in chunk.batches)
    if others:
        insert_deliveries(session, others)
        recipients += len(others)
    if chunk.renderings:
        table = table_of(Broadcast)
        run(
            session,
            sa.update(table)
            .where(table.c.id == broadcast_id)
            .values(renderings=table.c.renderings + chunk.renderings),
        )
    session.commit()
    if on_commit is not None and chunk.batches:
        on_commit()
    return Written(batches, recipients)


