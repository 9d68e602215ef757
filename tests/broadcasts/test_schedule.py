"""The schedule reads the rows: due broadcasts are sent, too-late ones expire, recurring ones
get their next occurrence, and nothing non-urgent is released in quiet hours."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from broadcaster.audit import AuditEntry
from broadcaster.broadcasts import Broadcast, Priority
from broadcaster.deliveries import Delivery
from broadcaster.dispatch import dispatch_broadcast
from broadcaster.schedule import dispatch_due
from tests.broadcasts.conftest import jst
from tests.delivery.scenario import ledgered

T = jst(2026, 5, 1, 9)


@pytest.fixture
def engine(any_engine):
    """These tests run on PostgreSQL too (the cap and digest SQL must hold on both)."""
    return any_engine


def row(engine, broadcast_id) -> Broadcast:
    with Session(engine) as session:
        found = session.get(Broadcast, broadcast_id)
        assert found is not None
        return found


def test_due_within_lateness_is_sent_and_too_late_expires(
    engine, settings, renderer, schedule, cast
):
    # The service was down from 9:00 to 10:40; max lateness is 30 minutes.
    on_time = schedule(jst(2026, 5, 1, 10, 30))
    too_late = schedule(jst(2026, 5, 1, 10, 0))
    future = schedule(jst(2026, 5, 1, 12, 0))
    now = jst(2026, 5, 1, 10, 40)
    assert dispatch_due(engine, settings, renderer, now) == 1
    assert row(engine, on_time).status == "sending"
    assert row(engine, on_time).recipients_total == 3
    expired = row(engine, too_late)
    assert expired.status == "expired"
    assert "40 min late" in (expired.status_reason or "")
    assert row(engine, future).status == "scheduled"
    with Session(engine) as session:
        assert session.exec(select(Delivery).where(Delivery.broadcast_id == too_late)).all() == []
        actions = session.exec(
            select(AuditEntry.action).where(AuditEntry.entity_id == str(too_late))
        ).all()
    assert "broadcast.expire" in actions
    # Running again changes nothing: rows are the truth, claims are conditional.
    assert dispatch_due(engine, settings, renderer, now) == 0


def test_a_recurring_broadcast_creates_its_next_occurrence(engine, settings, renderer, schedule):
    first = schedule(jst(2026, 5, 4, 9), recurrence="0 9 * * mon#1")
    assert dispatch_due(engine, settings, renderer, jst(2026, 5, 4, 9, 0, 1)) == 1
    with Session(engine) as session:
        occurrences = session.exec(select(Broadcast).order_by(Broadcast.id)).all()
    assert [(b.status, b.send_at) for b in occurrences] == [
        ("sent", jst(2026, 5, 4, 9)),  # nobody to send to: finished at once
        ("scheduled", jst(2026, 6, 1, 9)),
    ]
    assert occurrences[1].source == {"occurrence_of": first}
    assert occurrences[1].recurrence == "0 9 * * mon#1"


def test_an_expired_occurrence_still_schedules_the_next(engine, settings, renderer, schedule):
    schedule(jst(2026, 5, 4, 9), recurrence="0 9 * * *")
    # Down for three days: one expired row, then the next firing after now - lateness.
    assert dispatch_due(engine, settings, renderer, jst(2026, 5, 7, 8)) == 0
    with Session(engine) as session:
        rows = session.exec(select(Broadcast).order_by(Broadcast.id)).all()
    assert [(b.status, b.send_at) for b in rows] == [
        ("expired", jst(2026, 5, 4, 9)),
        ("scheduled", jst(2026, 5, 7, 9)),
    ]


def test_recurrence_skips_firings_in_quiet_hours(engine, settings, renderer, schedule):
    # At 20:00 and 22:00 daily: the 22:00 firing is in quiet hours and is skipped.
    schedule(jst(2026, 5, 1, 20), recurrence="0 20,22 * * *")
    dispatch_due(engine, settings, renderer, jst(2026, 5, 1, 20, 0, 1))
    with Session(engine) as session:
        rows = session.exec(select(Broadcast).order_by(Broadcast.id)).all()
    assert rows[1].send_at == jst(2026, 5, 2, 20)


def test_nothing_non_urgent_is_released_in_quiet_hours(engine, settings, renderer, schedule):
    late_evening = schedule(jst(2026, 5, 1, 20, 55))
    assert dispatch_due(engine, settings, renderer, jst(2026, 5, 1, 21, 5)) == 0
    expired = row(engine, late_evening)
    assert expired.status == "expired"
    assert "quiet hours 21:00–07:00" in (expired.status_reason or "")


def test_a_due_emergency_is_sent_first_even_in_quiet_hours(
    engine, settings, renderer, schedule, cast
):
    normal = schedule(jst(2026, 5, 1, 10))
    emergency = schedule(jst(2026, 5, 1, 10), priority=Priority.emergency, kind="emergency")
    assert dispatch_due(engine, settings, renderer, jst(2026, 5, 1, 10, 0, 1)) == 2
    assert row(engine, emergency).started_at <= row(engine, normal).started_at
    night = schedule(jst(2026, 5, 1, 23), now=jst(2026, 5, 1, 22), priority=Priority.emergency)
    assert dispatch_due(engine, settings, renderer, jst(2026, 5, 1, 23, 0, 1)) == 1
    assert row(engine, night).status == "sending"


def test_an_emergency_dispatched_by_its_creator_is_not_sent_twice(
    engine, settings, renderer, schedule, cast
):
    emergency = schedule(T, priority=Priority.emergency)
    assert dispatch_broadcast(engine, emergency, settings, renderer, T) is not None
    assert dispatch_due(engine, settings, renderer, T + timedelta(seconds=1)) == 0
    ledgered(engine)
    with Session(engine) as session:
        assert len(session.exec(select(Delivery)).all()) == 3
