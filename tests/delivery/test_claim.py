"""Claiming batches: one winner, priority first, leases that expire (both engines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from broadcaster.broadcasts import Priority
from broadcaster.worker import claim_batches
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
    assert {c.attempts for c in later} == {2}
    assert all(c.first_attempt_at == NOW for c in later)
