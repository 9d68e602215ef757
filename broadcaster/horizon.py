"""The scheduling horizon: how far ahead a broadcast may be scheduled.

A send_at years ahead is nearly always a typo ("2062" for "2026"), and one near the end of
the calendar overflows when converted between zones. `scheduling.horizon_days` (default
730: a yearly notice scheduled a year ahead, with a year to spare) bounds every
broadcast, whichever path creates it (API, console, garbage reminders, emergencies).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from broadcaster.settings import Settings


def refusal(send_at: datetime, settings: Settings, now: datetime) -> str | None:
    """Why `send_at` (aware) is too far ahead of `now`, or None when it is within reach."""
    days = settings.scheduling.horizon_days
    if send_at - now <= timedelta(days=days):
        return None
    return (
        f"send_at {send_at.astimezone(settings.tz):%Y-%m-%d} is more than {days} days ahead "
        "(scheduling.horizon_days); schedule it closer"
    )
