"""Read an iCal file into collection days: parse leniently, expand, map, assign zones. Pure.

Real garbage calendars are converted by hand or exported from Google Calendar/Outlook
(see facts/calendars.md): a BOM, junk after END:VCALENDAR, missing DTSTAMP/DTEND, EXDATE
without VALUE=DATE, X-WR-TIMEZONE instead of VTIMEZONE, an impossible date in one event.
We accept what still tells us dates and report the rest:

- Tolerance is per series (all events sharing a UID): a series whose DTSTART is missing or
  unreadable, whose RRULE does not parse (``UNTIL=20240931``), repeats more often than daily
  (FREQ=HOURLY/MINUTELY/SECONDLY) or has more than `max_occurrences` occurrences in the
  window is left out and reported by SUMMARY and UID with the parser's reason; the others
  import. With `strict`, any such series refuses the file.
- A file that is not iCal at all, is cut short, or yields no collection day in the window
  is refused with one line that keeps the parser's warnings.

Expansion is done by recurring-ical-events (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides,
VTIMEZONE, X-WR-TIMEZONE). A timed event's collection date is its start's date in the
city's zone (Asia/Tokyo), so 2026-06-01T23:30Z is collected on 6月2日. Floating times are
taken to be local already.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

import icalendar
import recurring_ical_events

from broadcaster.garbage.days import (
    CalendarError,
    DayCollector,
    ParsedCalendar,
    Skipped,
    zone_resolver,
)
from broadcaster.garbage.ical_screen import one_line, screen, source_lines, text_of, unreadable
from broadcaster.garbage.kinds import KindTable

__all__ = ["CalendarError", "Occurrence", "ParsedCalendar", "expand", "parse_calendar", "read_days"]

# Properties that may name a zone in a multi-zone file, in the order they are trusted.
ZONE_PROPERTIES = ("X-ZONE", "CATEGORIES", "LOCATION")
# A weekly calendar has ~60 days a year; a daily series over the default 400-day window 402.
DEFAULT_MAX_OCCURRENCES = 1000


@dataclass(frozen=True)
class Occurrence:
    """One expanded event: the local date it falls on, its summary, the zone names it gives."""

    date: date
    summary: str
    zone_names: tuple[str, ...]
    uid: str


def parse_calendar(data: bytes) -> icalendar.Calendar:
    """The calendar in `data`, tolerating a BOM, blank lines and junk after END:VCALENDAR.

    Raises CalendarError when it is not an iCalendar file or is cut short.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CalendarError(
            "not an iCal file: it is not UTF-8 text", code="calendar.not_utf8"
        ) from None
    begin = text.find("BEGIN:VCALENDAR")
    if begin < 0:
        raise CalendarError("not an iCal file: no BEGIN:VCALENDAR", code="calendar.not_ical")
    end = text.rfind("END:VCALENDAR")
    if end < begin:
        raise CalendarError(
            "the file is cut short: BEGIN:VCALENDAR has no END:VCALENDAR "
            "(an interrupted download or copy?); nothing was imported",
            code="calendar.cut_short",
        )
    event_lines = [
        number
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip().upper() == "BEGIN:VEVENT"
    ]
    text = text[begin : end + len("END:VCALENDAR")] + "\r\n"
    # Hand-edited files have blank lines between components; they are not content lines.
    text = "\r\n".join(line for line in text.splitlines() if line.strip())
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as exc:
        raise CalendarError(
            f"not a valid iCal file: {one_line(exc)}",
            code="calendar.invalid_ical",
            problem=one_line(exc),
        ) from None
    if not isinstance(calendar, icalendar.Calendar):
        raise CalendarError(
            "not an iCal file: the top component is not VCALENDAR", code="calendar.not_ical"
        )
    events = list(calendar.walk("VEVENT"))
    if len(events) == len(event_lines):
        # Staff find a series by the line its BEGIN:VEVENT is on; the parser keeps none.
        for event, number in zip(events, event_lines, strict=True):
            setattr(event, "source_line", number)  # noqa: B010 (no such attribute to type)
    return calendar


def expand(
    calendar: icalendar.Calendar,
    start: date,
    end: date,
    tz: tzinfo,
    *,
    max_occurrences: int = DEFAULT_MAX_OCCURRENCES,
) -> tuple[list[Occurrence], list[str], list[Skipped]]:
    """Occurrences on local dates in [start, end), warnings about what was ignored, and the
    series left out (each with the parser's reason). Never raises for an event's content."""
    warnings: list[str] = []
    skipped = screen(calendar, warnings)
    lines = source_lines(calendar)
    # One day of margin each side: a timed event's local date may differ from its UTC one.
    span = (start - timedelta(days=1), end + timedelta(days=1))
    occurrences: list[Occurrence] = []
    for series_uid, summary, series in _series(calendar, skipped):
        found: list[Occurrence] = []
        try:
            for occurrence in series.between(*span):
                if len(found) >= max_occurrences:
                    raise _TooMany
                component = occurrence.as_component(False)
                local_date = _local_date(component["DTSTART"].dt, tz)
                if start <= local_date < end:
                    found.append(
                        Occurrence(
                            local_date,
                            text_of(component.get("SUMMARY")),
                            _zone_names(component),
                            series_uid,
                        )
                    )
        except _TooMany:
            skipped.append(
                Skipped(
                    series_uid,
                    summary,
                    f"more than {max_occurrences} occurrences in the window "
                    "(garbage.max_occurrences_per_event); not a collection schedule",
                    "calendar.series.too_many",
                    {"max": max_occurrences},
                    lines.get(series_uid, 0),
                )
            )
            continue
        except Exception as exc:
            skipped.append(unreadable(series_uid, summary, exc, lines.get(series_uid, 0)))
            continue
        occurrences.extend(found)
    occurrences.sort(key=lambda occurrence: (occurrence.date, occurrence.summary))
    return occurrences, warnings, skipped


class _TooMany(Exception):
    pass


def _series(
    calendar: icalendar.Calendar, skipped: list[Skipped]
) -> Iterable[tuple[str, str, recurring_ical_events.Series]]:
    """(uid, summary, series) of every series; a series the library cannot even build is
    skipped with its reason (then the calendar is built again one UID at a time)."""
    try:
        query = recurring_ical_events.of(calendar)
    except Exception:
        yield from _series_one_by_one(calendar, skipped)
        return
    summaries = _summaries(calendar)
    for series in query.series:
        uid = text_of(series.uid)
        yield uid, summaries.get(uid, ""), series


def _series_one_by_one(
    calendar: icalendar.Calendar, skipped: list[Skipped]
) -> Iterable[tuple[str, str, recurring_ical_events.Series]]:
    groups: dict[str, list[icalendar.cal.Component]] = defaultdict(list)
    others: list[icalendar.cal.Component] = []
    for component in calendar.subcomponents:
        if component.name == "VEVENT":
            groups[text_of(component.get("UID"))].append(component)
        else:
            others.append(component)
    for uid, events in groups.items():
        single = icalendar.Calendar()
        single.update(calendar)
        single.subcomponents = [*others, *events]
        try:
            series = recurring_ical_events.of(single).series
        except Exception as exc:
            line = getattr(events[0], "source_line", 0)
            skipped.append(unreadable(uid, text_of(events[0].get("SUMMARY")), exc, line))
            continue
        for one in series:
            yield uid, text_of(events[0].get("SUMMARY")), one


def _summaries(calendar: icalendar.Calendar) -> Mapping[str, str]:
    found: dict[str, str] = {}
    for event in calendar.walk("VEVENT"):
        found.setdefault(text_of(event.get("UID")), text_of(event.get("SUMMARY")))
    return found


def read_days(
    data: bytes,
    *,
    start: date,
    end: date,
    tz: tzinfo,
    table: KindTable,
    zones: Sequence[str],
    zone_aliases: Mapping[str, str],
    zone: str | None = None,
    strict: bool = False,
    max_occurrences: int = DEFAULT_MAX_OCCURRENCES,
) -> ParsedCalendar:
    """Collection days per zone from an iCal file.

    With `zone`, events naming no known zone belong to it and events naming another zone
    are left out; without it, every event must name a known zone. Raises CalendarError
    (nothing is half-read) for a bad file, an unknown zone, no collection day at all, or,
    when `strict`, any series left out.
    """
    if zone is not None and zone not in zones:
        raise CalendarError(
            f"unknown zone {zone!r} (known: {', '.join(zones)})",
            code="calendar.unknown_zone",
            zone=zone,
            known="、".join(zones),
        )
    calendar = parse_calendar(data)
    occurrences, warnings, skipped = expand(
        calendar, start, end, tz, max_occurrences=max_occurrences
    )
    problems = [*map(str, skipped), *warnings]
    if strict and skipped:
        raise CalendarError(
            f"{len(skipped)} series cannot be imported (--strict refuses the file)",
            problems,
            code="calendar.strict",
            skipped=skipped,
            count=len(skipped),
        )
    resolve = zone_resolver(zones, zone_aliases)
    collector = DayCollector(table, resolve)
    homeless: list[Occurrence] = []
    zones_of: dict[tuple[str, ...], list[str]] = {}
    for occurrence in occurrences:
        if not occurrence.summary or table.is_ignored(occurrence.summary):
            continue
        named = zones_of.get(occurrence.zone_names)
        if named is None:
            named = zones_of[occurrence.zone_names] = sorted(
                {found for name in occurrence.zone_names if (found := resolve(name))}
            )
        if zone is not None:
            if named and zone not in named:
                continue
            targets = [zone]
        elif named:
            targets = named
        else:
            homeless.append(occurrence)
            continue
        for target in targets:
            collector.add(target, occurrence.date, occurrence.summary)
    if homeless:
        first = homeless[0]
        raise CalendarError(
            f"{len(homeless)} event(s) name no known zone, e.g. {first.summary!r} on {first.date} "
            f"(names: {', '.join(first.zone_names) or 'none'}); give the zone (--zone) or "
            f"put it in X-ZONE/CATEGORIES/LOCATION (known: {', '.join(zones)}; "
            "others via garbage.zone_aliases)",
            problems,
            code="calendar.no_zone",
            skipped=skipped,
            count=len(homeless),
            summary=first.summary,
            date=first.date.isoformat(),
            known="、".join(zones),
        )
    parsed = collector.result(warnings, skipped)
    if not parsed.days:
        where = f" for zone {zone}" if zone else ""
        last = end - timedelta(days=1)
        raise CalendarError(
            f"no collection days{where} between {start} and {last}",
            problems,
            code="calendar.no_days_in_zone" if zone else "calendar.no_days",
            skipped=skipped,
            zone=zone or "",
            start=start.isoformat(),
            end=last.isoformat(),
        )
    return parsed


def _zone_names(component: icalendar.cal.Component) -> tuple[str, ...]:
    names: list[str] = []
    for prop in ZONE_PROPERTIES:
        value = component.get(prop)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        for item in values:
            cats = getattr(item, "cats", None)
            if cats is None:
                names.append(text_of(item))
            else:
                names.extend(text_of(cat) for cat in cats)
    return tuple(name for name in names if name)


def _local_date(value: date | datetime, tz: tzinfo) -> date:
    if isinstance(value, datetime):
        return value.astimezone(tz).date() if value.tzinfo else value.date()
    return value
