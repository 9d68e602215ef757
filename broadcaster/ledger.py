"""The ledger: each resident's Delivery row, derived from the batch that carried them.

A dispatch writes batches only (recipients, their resident ids, payload, retry key): for a
city-wide notice that is 2,000 rows instead of a million, so sending starts and keeps pace
with LINE while the outbox is still being written. The per-resident rows the deliveries
API, the frequency caps, follow-ups and reports read are written here afterwards, from the
batches, one SQL statement per group of batches that the database expands itself.

A batch's rows carry its status at the time they are written; a result recorded later
updates them (`claims.record_outcome`), so a row is always as true as its batch. The rows
are written:
- in the background for finished broadcasts (`record_backlog`, a scheduled job), so a
  sending broadcast never waits for them;
- on demand before anything that must see every resident of a broadcast still being sent
  (`catch_up`): a resumed dispatch (nobody queued twice), caps, follow-ups, the API.

A batch is ledgered at most once: its `ledgered_at` is set in the statement's transaction,
under a row lock on PostgreSQL, and (broadcast, resident) is unique.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcasts import FINISHED, Broadcast
from broadcaster.db import table_of
from broadcaster.deliveries import Delivery, DeliveryStatus

BATCH = table_of(Batch)
_COLUMNS = "(broadcast_id, batch_id, resident_id, status, accepted_at, error)"
BROADCAST = table_of(Broadcast)
DELIVERY = Delivery.__tablename__
# Batches a background run ledgers at most (100,000 rows): each run is one short
# transaction, so a sender waiting for the write lock waits a moment, not seconds.
BACKLOG_BATCHES = 200

# A batch's status as its residents' delivery status.
_STATUS = (
    f"CASE b.status WHEN '{BatchStatus.pending.value}' THEN '{DeliveryStatus.queued.value}' "
    "ELSE b.status END"
)
_ERROR = (
    f"CASE WHEN b.status IN ('{BatchStatus.failed.value}', '{BatchStatus.unknown.value}') "
    "THEN substr(b.last_error, 1, 1000) END"
)


def _connection(session: Session | Connection) -> Connection:
    return session if isinstance(session, Connection) else session.connection()


def _expand(connection: Connection, batch_ids: Sequence[int], now: datetime) -> int:
    """Write the Delivery rows of these (unledgered) batches; returns how many."""
    if not batch_ids:
        return 0
    if connection.dialect.name == "postgresql":
        ids = "{" + ",".join(map(str, batch_ids)) + "}"
        inserted = connection.exec_driver_sql(
            f"INSERT INTO {DELIVERY} {_COLUMNS} "
            f"SELECT b.broadcast_id, b.id, r.value::integer, {_STATUS}, b.accepted_at, {_ERROR} "
            "FROM batch b CROSS JOIN LATERAL jsonb_array_elements_text(b.resident_ids) AS r "
            "WHERE b.id = ANY(%s::integer[]) AND b.ledgered_at IS NULL",
            (ids,),
        ).rowcount
    else:
        marks = ", ".join("?" for _ in batch_ids)
        inserted = connection.exec_driver_sql(
            f"INSERT INTO {DELIVERY} {_COLUMNS} "
            f"SELECT b.broadcast_id, b.id, r.value, {_STATUS}, b.accepted_at, {_ERROR} "
            f"FROM batch b, json_each(b.resident_ids) AS r "
            f"WHERE b.id IN ({marks}) AND b.ledgered_at IS NULL",
            tuple(batch_ids),
        ).rowcount
    connection.execute(
        sa.update(BATCH).where(BATCH.c.id.in_(list(batch_ids))).values(ledgered_at=now)
    )
    return int(inserted)


def _unledgered(
    connection: Connection, where: sa.ColumnElement[bool], limit: int | None = None
) -> list[int]:
    query = sa.select(BATCH.c.id).where(BATCH.c.ledgered_at.is_(None), where).order_by(BATCH.c.id)
    if limit is not None:
        query = query.limit(limit)
    if connection.dialect.name == "postgresql":
        # Lock them: a result recorded meanwhile waits, then updates the rows written here.
        query = query.with_for_update(skip_locked=False)
    return list(connection.execute(query).scalars())


def catch_up(
    session: Session | Connection, now: datetime, broadcast_ids: Sequence[int] | None = None
) -> int:
    """Ledger every batch of these broadcasts (all broadcasts: None) now, in the caller's
    transaction; returns the rows written. The caller commits."""
    connection = _connection(session)
    where: sa.ColumnElement[bool] = (
        sa.true() if broadcast_ids is None else BATCH.c.broadcast_id.in_(list(broadcast_ids))
    )
    return _expand(connection, _unledgered(connection, where), now)


def record_backlog(engine: Engine, now: datetime, limit: int = BACKLOG_BATCHES) -> int:
    """One background run: ledger up to `limit` batches of finished broadcasts; returns
    the rows written. Never touches a broadcast still being sent."""
    finished = sa.select(BROADCAST.c.id).where(BROADCAST.c.status.in_([s.value for s in FINISHED]))
    with engine.begin() as connection:
        ids = _unledgered(connection, BATCH.c.broadcast_id.in_(finished), limit)
        return _expand(connection, ids, now)
