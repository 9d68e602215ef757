"""Quiet hours (夜間配信停止): when non-emergency messages are never released.

Pure functions over aware datetimes. The window is given in the city's zone and may cross
midnight (the default 21:00–07:00 does); `start == end` means an empty window.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

from broadcaster.settings import QuietHoursSettings


def _inside(clock: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= clock < end
    # Crossing midnight: 21:00–07:00 is "from 21:00 on" or "before 07:00".
    return clock >= start or clock < end


def in_quiet_hours(at: datetime, quiet: QuietHoursSettings, tz: tzinfo) -> bool:
    """True when `at` (aware) falls inside the quiet window, seen in `tz`."""
    if not quiet.enabled:
        return False
    local_time = at.astimezone(tz).time().replace(tzinfo=None)
    return _inside(local_time, quiet.start, quiet.end)


def next_allowed(at: datetime, quiet: QuietHoursSettings, tz: tzinfo) -> datetime:
    """`at` itself when it is outside quiet hours, else the window's next end (aware, in tz)."""
    local_at = at.astimezone(tz)
    if not in_quiet_hours(at, quiet, tz):
        return local_at
    end_today = datetime.combine(local_at.date(), quiet.end, tzinfo=tz)
    if end_today <= local_at:
        end_today = datetime.combine(local_at.date() + timedelta(days=1), quiet.end, tzinfo=tz)
    return end_today


def window_label(quiet: QuietHoursSettings) -> str:
    return f"{quiet.start:%H:%M}–{quiet.end:%H:%M}"


def refusal(at: datetime, quiet: QuietHoursSettings, tz: tzinfo) -> str | None:
    """The staff-facing reason `at` is refused, naming the next allowed time; None if allowed."""
    if not in_quiet_hours(at, quiet, tz):
        return None
    suggested = next_allowed(at, quiet, tz)
    return (
        f"send_at {at.astimezone(tz):%Y-%m-%d %H:%M} JST falls in quiet hours "
        f"{window_label(quiet)}; next allowed time {suggested:%Y-%m-%d %H:%M} JST"
    )
