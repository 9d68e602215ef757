"""Recurring broadcasts: each firing is its own row, and the next one is added in time.

A recurring broadcast, when its occurrence is dispatched, folded or expired, gets its
next occurrence as a new row in the same transaction, so a series never has a gap and
never two rows for one firing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from broadcaster import lifecycle
from broadcaster.broadcasts import Broadcast
from broadcaster.planning import held_by_quiet_hours
from broadcaster.recurrence import RecurrenceError, next_time
from broadcaster.settings import Settings

# A recurrence whose every firing lands in quiet hours must not loop forever.
MAX_QUIET_SKIPS = 400
# What the next occurrence does not inherit: its own identity, times, counts and outcome.
NOT_INHERITED = frozenset(
    {
        "id",
        "status",
        "send_at",
        "created_at",
        "updated_at",
        "dispatched_at",
        "started_at",
        "finished_at",
        "renderings",
        "recipients_total",
        "skipped_over_cap",
        "quota_consumed",
        "status_reason",
        "source",
    }
)


def next_occurrence(
    session: Session, broadcast: Broadcast, settings: Settings, now: datetime, *, actor: str
) -> Broadcast | None:
    """Add the row for the next firing of a recurring broadcast (None if it has none).

    The next time is after the later of this occurrence and the oldest still-sendable
    moment, so a long outage creates one row, not one per missed firing. Firings inside
    quiet hours are skipped for broadcasts that respect them.
    """
    if not broadcast.recurrence:
        return None
    lateness = timedelta(minutes=settings.scheduling.max_lateness_minutes)
    after = max(broadcast.send_at, now - lateness)
    try:
        when = next_time(broadcast.recurrence, after, settings.tz)
        for _ in range(MAX_QUIET_SKIPS):
            if when is None or not held_by_quiet_hours(broadcast, settings, when):
                break
            when = next_time(broadcast.recurrence, when, settings.tz)
        else:
            when = None
    except RecurrenceError:
        when = None
    if when is None:
        return None
    series = (broadcast.source or {}).get("occurrence_of", broadcast.id)
    following = Broadcast(
        **broadcast.model_dump(exclude=set(NOT_INHERITED)),
        send_at=when,
        source={**(broadcast.source or {}), "occurrence_of": series},
        created_at=now,
        updated_at=now,
    )
    lifecycle.add_occurrence(session, following, actor=actor, now=now)
    return following
