"""Recurring broadcasts: a cron-like expression, read in the city's zone.

Accepted syntax (five fields, separated by spaces): `minute hour day month day_of_week`.

- minute: one number 0-59 (a broadcast repeats at most hourly).
- hour 0-23, day 1-31, month 1-12 or jan..dec: `*`, numbers, ranges `a-b`, lists `a,b`,
  steps `*/n` or `a-b/n` (APScheduler's cron fields).
- day_of_week: `*`, mon..sun, or numbers as in cron (0 and 7 = Sunday, 1 = Monday), with
  ranges and lists (`mon-fri`, `1,3`). `mon#1` .. `mon#5` means the first .. fifth Monday
  of the month, `fri#L` the last Friday; these cannot be combined with a day field or a list.
- Day and day_of_week both restricted means BOTH must hold (APScheduler), not either (cron).

Examples: "0 9 * * mon#1" (first Monday, 9:00), "30 7 * * mon-fri" (weekdays 7:30),
"0 10 1 * *" (the 1st of every month, 10:00).

Each firing creates one broadcast row (one occurrence), so records stay per send.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger

from broadcaster.errors import FeatureRefusal

_CRON_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_ORDINALS = {"1": "1st", "2": "2nd", "3": "3rd", "4": "4th", "5": "5th", "l": "last"}
_NTH = re.compile(r"^([a-z]{3}|[0-7])#([1-5l])$")


class RecurrenceError(FeatureRefusal, ValueError):
    """The expression is not accepted; str() names the field and the problem in English,
    `code` and `params` word it for staff (broadcaster.catalog)."""

    default_code = "recurrence.invalid"


def _weekday_name(token: str) -> str:
    if token.isdigit():
        number = int(token)
        if not 0 <= number <= 7:
            raise RecurrenceError(
                f"day_of_week {token!r} is not 0-7", "recurrence.weekday", value=token
            )
        return _CRON_DAYS[number]
    if token not in _CRON_DAYS:
        raise RecurrenceError(
            f"day_of_week {token!r} is not one of mon..sun or 0-7",
            "recurrence.weekday",
            value=token,
        )
    return token


def _day_of_week(field: str) -> str:
    """Cron's numbering (0 = Sunday) translated to names, which APScheduler reads unambiguously."""
    if field == "*":
        return field
    parts: list[str] = []
    for item in field.split(","):
        if "-" in item:
            first, last = item.split("-", 1)
            parts.append(f"{_weekday_name(first)}-{_weekday_name(last)}")
        else:
            parts.append(_weekday_name(item))
    return ",".join(parts)


def parse_recurrence(expression: str, tz: tzinfo) -> CronTrigger:
    """A trigger for `expression` in `tz`. Raises RecurrenceError naming the bad field."""
    fields = expression.lower().split()
    if len(fields) != 5:
        raise RecurrenceError(
            f"recurrence {expression!r} needs 5 fields (minute hour day month day_of_week), "
            f"got {len(fields)}",
            "recurrence.fields",
            recurrence=expression,
            count=len(fields),
        )
    minute, hour, day, month, dow = fields
    if not (minute.isdigit() and int(minute) < 60):
        # Every resident would get a message each minute: at most hourly, so one minute.
        raise RecurrenceError(
            f"recurrence {expression!r}: the minute must be one number 0-59 "
            "(a broadcast repeats at most hourly)",
            "recurrence.too_frequent",
            recurrence=expression,
        )
    nth = _NTH.match(dow)
    if nth:
        if day != "*":
            raise RecurrenceError(
                "recurrence: day must be * when day_of_week uses '#'", "recurrence.nth_with_day"
            )
        day = f"{_ORDINALS[nth.group(2)]} {_weekday_name(nth.group(1))}"
        dow = "*"
    elif "#" in dow:
        raise RecurrenceError(
            f"day_of_week {dow!r}: use e.g. mon#1 (first Monday) or fri#L",
            "recurrence.nth",
            value=dow,
        )
    else:
        dow = _day_of_week(dow)
    try:
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=dow, timezone=tz
        )
    except ValueError as exc:
        raise RecurrenceError(
            f"recurrence {expression!r}: {exc}",
            "recurrence.invalid",
            recurrence=expression,
            problem=str(exc),
        ) from None


def next_time(expression: str, after: datetime, tz: tzinfo) -> datetime | None:
    """The first firing strictly after `after` (aware), or None if there is none."""
    trigger = parse_recurrence(expression, tz)
    # CronTrigger returns a time >= its argument; nudge by a second for "strictly after".
    start = after.astimezone(tz).replace(microsecond=0)
    fire = trigger.get_next_fire_time(None, start)
    if fire is not None and fire <= after:
        fire = trigger.get_next_fire_time(None, start + timedelta(seconds=1))
    return fire
