"""Claiming batches: one winner, priority first, leases that expire (both engines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from broadcaster import ledger
from broadcaster.batches import Batch
from broadcaster.broadcasts import Priority
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.delivery.worker import claim_batches
from segments.residents import Resident
from tests.delivery.scenario import add_residents, dispatch_now, new_broadcast, text_plan

NOW = datetime(2026, 4, 1, 9, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def test_a_batch_is_claimed_once_emergencies_first_and_expired_leases_are_taken_over(
    any_engine: Engine,
) -> None:
    add_residents(any_engine, 1000)
    normal = new_broadcast(any_engine)
    dispatch_now(any_engine, normal.id, text_plan(), now=NOW)
    emergency = new_broadcast(any_engine, priority=Priority.emergency)
    dispatch_now(any_engine, emergency.id, text_plan(), now=NOW)
    with any_engine.begin() as connection:
        first = claim_batches(connection, "a", NOW, 3, LEASE)
    assert [c.batch.broadcast_id for c in first] == [emergency.id, emergency.id, normal.id]
    assert all(c.attempts == 1 and c.first_attempt_at == NOW for c in first)
    with any_engine.begin() as connection:
        second = claim_batches(connection, "b", NOW, 10, LEASE)
    assert [c.batch.id for c in second] == [first[-1].batch.id + 1]
    with any_engine.begin() as connection:
        assert claim_batches(connection, "b", NOW + timedelta(seconds=5), 10, LEASE) == []
        later = claim_batches(connection, "b", NOW + LEASE + timedelta(seconds=1), 10, LEASE)
    assert sorted(c.batch.id for c in later) == sorted(c.batch.id for c in first + second)
    # Nothing was recorded for the expired claims: a claim is not an attempt.
    assert {c.attempts for c in later} == {1}
    assert all(c.first_attempt_at == NOW for c in later)


def test_each_recipient_has_one_queued_delivery_in_the_batch_that_names_them(
    any_engine: Engine,
) -> None:
    """The ledger writes delivery rows from the batches with engine-specific statements
    (json_each on SQLite, jsonb_array_elements_text on PostgreSQL): both must say the same
    thing as the batches, and write nothing twice when asked again."""
    ids = add_residents(any_engine, 1203, language=lambda n: "ja" if n % 3 else "en")
    broadcast = new_broadcast(any_engine)
    dispatch_now(any_engine, broadcast.id, text_plan(fields=("language",)), now=NOW)
    with any_engine.begin() as connection:
        assert ledger.catch_up(connection, NOW) == 1203
        assert ledger.catch_up(connection, NOW) == 0
    batch, delivery, resident = Batch.__table__, Delivery.__table__, Resident.__table__
    with any_engine.connect() as connection:
        named = {
            (batch_id, user)
            for batch_id, users in connection.execute(
                sa.select(batch.c.id, batch.c.recipients).where(
                    batch.c.broadcast_id == broadcast.id
                )
            )
            for user in users
        }
        queued = connection.execute(
            sa.select(delivery.c.batch_id, resident.c.line_user_id, delivery.c.status)
            .join(resident, resident.c.id == delivery.c.resident_id)
            .where(delivery.c.broadcast_id == broadcast.id)
        ).all()
    assert len(queued) == len(ids) == len(named)
    assert {(batch_id, user) for batch_id, user, _ in queued} == named
    assert {status for _, _, status in queued} == {DeliveryStatus.queued.value}
