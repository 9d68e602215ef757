"""Frequency caps: a resident's fourth non-emergency message of the day is skipped and
counted; emergencies neither count nor get skipped; days and weeks are Tokyo's."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from broadcaster.broadcasts import Broadcast, Priority
from broadcaster.deliveries import Delivery
from broadcaster.frequency import day_bounds, week_bounds
from broadcaster.schedule import dispatch_due
from tests.broadcasts.conftest import TOKYO, jst
from tests.delivery.scenario import ledgered


@pytest.fixture
def engine(any_engine):
    """These tests run on PostgreSQL too (the cap and digest SQL must hold on both)."""
    return any_engine


def statuses(engine, broadcast_id) -> list[str]:
    ledgered(engine)
    with Session(engine) as session:
        return list(
            session.exec(select(Delivery.status).where(Delivery.broadcast_id == broadcast_id))
        )


def test_three_sends_then_the_fourth_is_skipped_and_counted(
    engine, settings, renderer, schedule, make_resident
):
    make_resident()
    ids = [schedule(jst(2026, 5, 1, hour)) for hour in (10, 11, 12, 13)]
    emergency = schedule(jst(2026, 5, 1, 12, 30), priority=Priority.emergency)
    for hour, minute in ((10, 0), (11, 0), (12, 0), (12, 30), (13, 0)):
        dispatch_due(engine, settings, renderer, jst(2026, 5, 1, hour, minute, 1))
    assert [statuses(engine, i) for i in ids] == [["queued"]] * 3 + [["skipped_cap"]]
    with Session(engine) as session:
        fourth = session.get(Broadcast, ids[3])
        assert fourth is not None and fourth.skipped_over_cap == 1
    # The emergency went out although the cap was reached, and did not count toward it.
    assert statuses(engine, emergency) == ["queued"]


def test_a_new_tokyo_day_resets_the_daily_cap(engine, settings, renderer, schedule, make_resident):
    make_resident()
    for hour in (10, 11, 12):
        schedule(jst(2026, 5, 1, hour))
        dispatch_due(engine, settings, renderer, jst(2026, 5, 1, hour, 0, 1))
    # 08:00 JST on 2 May is still 1 May in UTC; the cap follows Tokyo.
    next_morning = schedule(jst(2026, 5, 2, 8))
    dispatch_due(engine, settings, renderer, jst(2026, 5, 2, 8, 0, 1))
    assert statuses(engine, next_morning) == ["queued"]


def test_the_weekly_cap(engine, tmp_path, renderer, department_id, make_resident):
    from broadcaster.broadcast_creation import create_broadcast
    from broadcaster.broadcast_requests import BroadcastRequest
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, **{"frequency.max_per_week": 2})
    make_resident()
    ids = []
    for day in (4, 5, 6):  # Monday to Wednesday
        with Session(engine, expire_on_commit=False) as session:
            request = BroadcastRequest(
                title="週",
                category="general",
                template_text="週のお知らせ",
                send_at=jst(2026, 5, day, 10),
            )
            ids.append(
                create_broadcast(
                    session, "t", department_id, request, settings, renderer, jst(2026, 5, 4, 9)
                ).id
            )
            session.commit()
        dispatch_due(engine, settings, renderer, jst(2026, 5, day, 10, 0, 1))
    assert [statuses(engine, i) for i in ids] == [["queued"], ["queued"], ["skipped_cap"]]


def test_days_and_weeks_are_tokyo_calendar():
    start, end = day_bounds(jst(2026, 5, 1, 0, 30), TOKYO)
    assert (start, end) == (jst(2026, 5, 1), jst(2026, 5, 2))
    start, end = week_bounds(jst(2026, 5, 3, 23), TOKYO)  # a Sunday
    assert (start, end) == (jst(2026, 4, 27), jst(2026, 5, 4))
