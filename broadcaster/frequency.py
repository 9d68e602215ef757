"""Frequency caps: at most N non-emergency messages per resident per day and per week.

"Day" and "week" (Monday to Sunday) are the city's calendar (Asia/Tokyo), not UTC. What
counts is a Delivery accepted or queued for a broadcast that respects limits (not an
emergency, not bypassing limits), dated by the broadcast's send time: the day the city
meant it for, whatever minute a retry got it through. A cap of 0 turns that cap off.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from broadcaster.broadcasts import Broadcast
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.policies import counted_for_caps
from broadcaster.settings import FrequencySettings
from segments.residents import Resident

COUNTED = (DeliveryStatus.accepted, DeliveryStatus.queued)


def day_bounds(now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of `now`'s local day, as aware datetimes."""
    day = now.astimezone(tz).date()
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def week_bounds(now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) around `now`, local."""
    day = now.astimezone(tz).date()
    monday = day - timedelta(days=day.weekday())
    start = datetime.combine(monday, time(0), tzinfo=tz)
    return start, datetime.combine(monday + timedelta(days=7), time(0), tzinfo=tz)


def _received_in(
    start: datetime, end: datetime, limit: int, exclude_broadcast_id: int | None
) -> sa.Select[Any]:
    """Residents with at least `limit` counted deliveries of broadcasts sent in [start, end).

    Driven from the (few) broadcasts of the window, then their deliveries through the
    (broadcast_id, resident_id) key: the cost does not grow with the delivery history, and
    no index on delivery time has to be kept up by every send.
    """
    counted = sa.select(col(Broadcast.id)).where(
        counted_for_caps(),
        col(Broadcast.send_at) >= start,
        col(Broadcast.send_at) < end,
    )
    if exclude_broadcast_id is not None:
        counted = counted.where(col(Broadcast.id) != exclude_broadcast_id)
    return (
        sa.select(col(Delivery.resident_id))
        .where(
            col(Delivery.broadcast_id).in_(counted),
            col(Delivery.status).in_([status.value for status in COUNTED]),
        )
        .group_by(col(Delivery.resident_id))
        .having(sa.func.count() >= limit)
    )


def over_cap_filter(
    frequency: FrequencySettings,
    tz: tzinfo,
    now: datetime,
    *,
    exclude_broadcast_id: int | None = None,
) -> sa.ColumnElement[bool] | None:
    """A WHERE clause over Resident: already at today's or this week's cap. None: no caps.

    `exclude_broadcast_id` keeps a resumed dispatch from counting its own deliveries.
    """
    clauses: list[sa.ColumnElement[bool]] = []
    if frequency.max_per_day > 0:
        start, end = day_bounds(now, tz)
        clauses.append(
            col(Resident.id).in_(
                _received_in(start, end, frequency.max_per_day, exclude_broadcast_id)
            )
        )
    if frequency.max_per_week > 0:
        start, end = week_bounds(now, tz)
        clauses.append(
            col(Resident.id).in_(
                _received_in(start, end, frequency.max_per_week, exclude_broadcast_id)
            )
        )
    if not clauses:
        return None
    return sa.or_(*clauses)
