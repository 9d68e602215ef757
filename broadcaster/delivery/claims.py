"""The batch table's side of delivery: claiming due batches and recording what LINE said.

Claiming is one conditional UPDATE (… WHERE id IN (due batches, highest priority first)
AND still claimable … RETURNING): on PostgreSQL the inner select takes `FOR UPDATE SKIP
LOCKED`, so replicas never wait on each other; on SQLite the single writer makes the
statement atomic. The returned rows are exactly what this worker won. A claim carries a
lease; a worker that dies leaves leases that expire, and any worker takes those batches
over. Because a batch keeps its retry key for life, a takeover that resends a request
LINE already accepted gets 409, which counts as sent: nobody receives it twice.

An attempt is counted when its request has left (with its result), not at the claim: a
claim lost to a crash before anything was sent costs the batch nothing. `first_attempt_at`
is stamped at the claim, before any request, so the age of the retry key is never
underestimated.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from broadcaster.batches import Batch, BatchStatus
from broadcaster.clock import as_utc
from broadcaster.db import UTCDateTime, table_of
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.delivery.answers import Accepted, DeliveryError
from broadcaster.delivery.port import OutgoingBatch
from broadcaster.delivery.retry import Action, Decision
from broadcaster.progress import finish_if_done

BATCH = table_of(Batch)
DELIVERY = table_of(Delivery)


@dataclass(frozen=True, slots=True)
class Claimed:
    batch: OutgoingBatch
    attempts: int  # including the attempt this claim is for
    first_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result waiting to be recorded. `outcome` None: no request left."""

    claimed: Claimed
    outcome: Accepted | DeliveryError | None
    decision: Decision
    now: datetime


def claimable(now: Any) -> sa.ColumnElement[bool]:
    """Due and not leased at `now` (a datetime, or a bound parameter standing for one)."""
    t = BATCH.c
    return sa.and_(
        t.status == BatchStatus.pending.value,
        sa.or_(t.next_attempt_at.is_(None), t.next_attempt_at <= now),
        sa.or_(t.lease_until.is_(None), t.lease_until < now),
    )


# The claim's statements are built once, with bound parameters: a claim runs ~40 times a
# second at LINE's pace, and building the statement and its cache key each time cost
# more CPU than SQLite spent running it.
_NOW = sa.bindparam("p_now", type_=UTCDateTime())
_RETURNED = (
    BATCH.c.id,
    BATCH.c.broadcast_id,
    BATCH.c.endpoint,
    BATCH.c.messages,
    BATCH.c.recipients,
    BATCH.c.retry_key,
    BATCH.c.priority,
    BATCH.c.attempts,
    BATCH.c.first_attempt_at,
)


@functools.cache
def _candidates(emergency_only: bool) -> sa.Select[tuple[int]]:
    t = BATCH.c
    due = claimable(_NOW)
    if emergency_only:
        due = sa.and_(due, t.priority > 0)
    return (
        sa.select(t.id)
        .where(due)
        .order_by(t.priority.desc(), t.id)
        .limit(sa.bindparam("p_limit", type_=sa.Integer()))
    )


@functools.cache
def _locking(emergency_only: bool) -> sa.Select[tuple[int]]:
    return _candidates(emergency_only).with_for_update(skip_locked=True)


@functools.cache
def _claim(emergency_only: bool, locked_first: bool) -> sa.Update:
    """The claim: of the ids locked beforehand (`p_ids`; PostgreSQL), or of the candidates
    chosen in the same statement (SQLite)."""
    t = BATCH.c
    chosen: Any = (
        sa.bindparam("p_ids", expanding=True)
        if locked_first
        else _candidates(emergency_only).scalar_subquery()
    )
    return (
        sa.update(BATCH)
        .where(t.id.in_(chosen), claimable(_NOW))
        .values(
            lease_owner=sa.bindparam("p_owner"),
            lease_until=sa.bindparam("p_until", type_=UTCDateTime()),
            first_attempt_at=sa.func.coalesce(t.first_attempt_at, _NOW),
        )
        .returning(*_RETURNED)
    )


def claim_batches(
    connection: Connection,
    owner: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    *,
    emergency_only: bool = False,
) -> list[Claimed]:
    """Claim up to `limit` due batches (priority, then id) for `owner`; the caller commits."""
    params: dict[str, Any] = {
        "p_now": now, "p_limit": limit, "p_owner": owner, "p_until": now + lease
    }
    locked_first = connection.dialect.name == "postgresql"
    if locked_first:
        # Lock the chosen rows first: PostgreSQL may rescan a LIMIT subquery inside an
        # UPDATE, which can claim more than `limit` rows.
        params["p_ids"] = (
            connection.execute(_locking(emergency_only), params).scalars().all()
        )
        if not params["p_ids"]:
            return []
    # Else one statement: SQLite's single writer makes select-and-update atomic.
    rows = connection.execute(_claim(emergency_only, locked_first), params).all()
    claimed = [
        Claimed(
            OutgoingBatch(
                r.id, r.broadcast_id, r.endpoint, r.messages, r.recipients, r.retry_key, r.priority
            ),
            r.attempts + 1,
            as_utc(r.first_attempt_at),
        )
        for r in rows
    ]
    claimed.sort(key=lambda c: (-c.batch.priority, c.batch.id))
    return claimed


def release_leases(connection: Connection, owners: sa.ColumnElement[bool]) -> int:
    """Free the pending batches whose lease owner matches (a dead predecessor's)."""
    return connection.execute(
        sa.update(BATCH)
        .where(owners, BATCH.c.status == BatchStatus.pending.value)
        .values(lease_owner=None, lease_until=None)
    ).rowcount


def _values(item: Outcome) -> tuple[dict[str, Any], DeliveryStatus | None, str | None]:
    """What the batch row becomes, and its residents' status (None: still queued)."""
    decision, outcome, now = item.decision, item.outcome, item.now
    t = BATCH.c
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
    if outcome is not None:
        values["attempts"] = t.attempts + 1
    if decision.action is Action.accept:
        assert isinstance(outcome, Accepted)
        values.update(
            status=BatchStatus.accepted.value,
            accepted_at=now,
            line_request_id=outcome.line_request_id,
            next_attempt_at=None,
        )
        return values, DeliveryStatus.accepted, None
    if decision.action is Action.retry:
        values.update(next_attempt_at=decision.next_attempt_at, last_error=decision.reason)
        return values, None, None
    error = decision.reason
    if isinstance(outcome, DeliveryError) and outcome.body and outcome.body not in error:
        error = f"{error}\nLINE's answer: {outcome.body}"
    status = BatchStatus.failed if decision.action is Action.fail else BatchStatus.unknown
    values.update(status=status.value, last_error=error, next_attempt_at=None)
    delivery = DeliveryStatus.failed if decision.action is Action.fail else DeliveryStatus.unknown
    return values, delivery, decision.reason[:1000]


def record_outcome(connection: Connection, owner: str, item: Outcome) -> bool:
    """Store one attempt's result on its batch; the caller commits.

    Guarded by the lease: a worker whose lease was taken over writes nothing (the new
    owner's attempt, under the same retry key, decides). Residents' Delivery rows are
    updated only if the ledger already wrote them (usually it has not: see `ledger`).
    Returns whether it was written.
    """
    t = BATCH.c
    batch_id = item.claimed.batch.id
    values, delivery_status, delivery_error = _values(item)
    done = connection.execute(
        sa.update(BATCH)
        .where(t.id == batch_id, t.lease_owner == owner, t.status == BatchStatus.pending.value)
        .values(**values)
    )
    if done.rowcount != 1:
        return False
    if delivery_status is not None:
        connection.execute(
            sa.update(DELIVERY)
            .where(
                DELIVERY.c.batch_id == batch_id, DELIVERY.c.status == DeliveryStatus.queued.value
            )
            .values(
                status=delivery_status.value,
                accepted_at=item.now if delivery_status is DeliveryStatus.accepted else None,
                error=delivery_error,
            )
        )
    return True


# Accepted batches, the usual result, are recorded by prebuilt statements run once for
# the whole group (executemany) instead of two built statements per batch.
_ACCEPT_BATCH = (
    sa.update(BATCH)
    .where(
        BATCH.c.id == sa.bindparam("p_id"),
        BATCH.c.lease_owner == sa.bindparam("p_owner"),
        BATCH.c.status == BatchStatus.pending.value,
    )
    .values(
        lease_owner=None,
        lease_until=None,
        attempts=BATCH.c.attempts + 1,
        status=BatchStatus.accepted.value,
        accepted_at=sa.bindparam("p_at", type_=UTCDateTime()),
        line_request_id=sa.bindparam("p_request"),
        next_attempt_at=None,
    )
)
_ACCEPT_DELIVERIES = (
    sa.update(DELIVERY)
    .where(
        DELIVERY.c.batch_id == sa.bindparam("p_id"),
        DELIVERY.c.status == DeliveryStatus.queued.value,
    )
    .values(
        status=DeliveryStatus.accepted.value,
        accepted_at=sa.bindparam("p_at", type_=UTCDateTime()),
        error=None,
    )
)


def _accepted(item: Outcome) -> bool:
    return item.decision.action is Action.accept and item.outcome is not None


def _record_accepted(connection: Connection, owner: str, items: list[Outcome]) -> list[Outcome]:
    """Record these accepted results at once; returns those written (the batches still
    this owner's: a lease taken over meanwhile leaves its batch to the new owner)."""
    if not items:
        return []
    ids = [item.claimed.batch.id for item in items]
    ours = sa.select(BATCH.c.id).where(
        BATCH.c.id.in_(ids),
        BATCH.c.lease_owner == owner,
        BATCH.c.status == BatchStatus.pending.value,
    )
    if connection.dialect.name == "postgresql":
        ours = ours.with_for_update()
    still = set(connection.execute(ours).scalars())
    written = [item for item in items if item.claimed.batch.id in still]
    if not written:
        return []
    rows = [
        {
            "p_id": item.claimed.batch.id,
            "p_owner": owner,
            "p_at": item.now,
            "p_request": item.outcome.line_request_id
            if isinstance(item.outcome, Accepted)
            else None,
        }
        for item in written
    ]
    connection.execute(_ACCEPT_BATCH, rows)
    # Residents' rows exist only where the ledger already wrote them (usually not).
    connection.execute(_ACCEPT_DELIVERIES, [{"p_id": r["p_id"], "p_at": r["p_at"]} for r in rows])
    return written


def record_outcomes(connection: Connection, owner: str, outcomes: list[Outcome]) -> int:
    """Store several attempts' results in the caller's transaction; returns how many were
    written. Each broadcast that settled a batch is checked for being finished once, at
    the latest of its outcomes' times, instead of once per batch."""
    settled: dict[int, datetime] = {}
    done = _record_accepted(connection, owner, [item for item in outcomes if _accepted(item)])
    written = len(done)
    for item in (item for item in outcomes if not _accepted(item)):
        if record_outcome(connection, owner, item):
            written += 1
            done.append(item)
    for item in done:
        if item.decision.action is not Action.retry:
            broadcast_id = item.claimed.batch.broadcast_id
            settled[broadcast_id] = max(settled.get(broadcast_id, item.now), item.now)
    for broadcast_id, now in settled.items():
        finish_if_done(connection, broadcast_id, now)
    return written


def pending_count(connection: Connection) -> int:
    return int(
        connection.execute(
            sa.select(sa.func.count())
            .select_from(BATCH)
            .where(BATCH.c.status == BatchStatus.pending.value)
        ).scalar_one()
    )
