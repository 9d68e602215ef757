"""Which series of an iCal file can be trusted with dates, and why the others cannot. Pure.

`screen` takes out every series with an event whose dates are missing or unreadable, or
that repeats more often than daily; each comes back as a `Skipped` with its reason in
English and as a catalog code with parameters (the line its BEGIN:VEVENT is on, its UID),
so staff read it in Japanese and can find the event in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import icalendar

from broadcaster.garbage.days import Skipped

# Without these an event has no dates we can trust: the series is left out.
DATE_PROPERTIES = ("DTSTART", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
SUB_DAILY = ("SECONDLY", "MINUTELY", "HOURLY")


def screen(calendar: icalendar.Calendar, warnings: list[str]) -> list[Skipped]:
    """Take out every series with an event whose dates cannot be trusted; drop broken
    properties that do not decide dates (DTEND, DTSTAMP…) with a warning saying so."""
    bad: dict[str, Skipped] = {}
    # Hand-written files may have no UIDs: such an event is its own series, not one with
    # every other event lacking a UID.
    bad_events: list[icalendar.cal.Component] = []
    for event in calendar.walk("VEVENT"):
        uid = text_of(event.get("UID"))
        summary = text_of(event.get("SUMMARY"))
        reason: _Reason | None = None
        for name, message in getattr(event, "errors", []):
            if name in DATE_PROPERTIES:
                reason = reason or (
                    f"{name}: {one_line(message)}",
                    "calendar.series.bad_property",
                    {"property": name, "problem": one_line(message)},
                )
            else:
                event.pop(name, None)
                warnings.append(
                    f"{summary or '(no SUMMARY)'} (UID {uid or '?'}): {name}: "
                    f"{one_line(message)}; {name} ignored, the event imported"
                )
        reason = reason or _date_problem(event)
        if not reason:
            continue
        line = getattr(event, "source_line", 0)
        found = Skipped(uid, summary, reason[0], reason[1], reason[2], line)
        if not uid:
            bad_events.append(event)
            bad[f"#{len(bad_events)}"] = found
        elif uid not in bad:
            bad[uid] = found
    if bad:
        calendar.subcomponents = [
            component
            for component in calendar.subcomponents
            if not (
                component.name == "VEVENT"
                and (
                    any(component is event for event in bad_events)
                    or (text_of(component.get("UID")) or "#") in bad
                )
            )
        ]
    return list(bad.values())


# Why a series is left out: the English, the catalog code, its parameters.
_Reason = tuple[str, str, dict[str, Any]]


def _date_problem(event: icalendar.cal.Component) -> _Reason | None:
    start = event.get("DTSTART")
    if start is None:
        return "no DTSTART: the event has no date", "calendar.series.no_dtstart", {}
    if not isinstance(getattr(start, "dt", None), date):
        value = text_of(start)[:40]
        return f"DTSTART is not a date: {value}", "calendar.series.bad_dtstart", {"value": value}
    rules = event.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        freq = [str(value).upper() for value in rule.get("FREQ", [])]
        if not freq:
            return "RRULE has no FREQ", "calendar.series.no_freq", {}
        if freq[0] in SUB_DAILY:
            return (
                f"RRULE FREQ={freq[0]} repeats within a day; a collection calendar repeats "
                "daily at most",
                "calendar.series.sub_daily",
                {"freq": freq[0]},
            )
    return None


def unreadable(uid: str, summary: str, exc: BaseException, line: int) -> Skipped:
    """A series the expanding library refused: its words are all there is to say why."""
    problem = one_line(exc)
    return Skipped(uid, summary, problem, "calendar.series.unreadable", {"problem": problem}, line)


def source_lines(calendar: icalendar.Calendar) -> Mapping[str, int]:
    """The line each UID's first event begins on (`parse_calendar` notes it)."""
    found: dict[str, int] = {}
    for event in calendar.walk("VEVENT"):
        found.setdefault(text_of(event.get("UID")), getattr(event, "source_line", 0))
    return found


def text_of(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    return str(value).strip()


def one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split())[:300]
