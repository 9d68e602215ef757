"""Read an iCal file into collection days: parse leniently, expand, map, assign zones. Pure.

Real garbage calendars are converted by hand or exported from Google Calendar/Outlook
(see facts/calendars.md): a BOM, junk after END:VCALENDAR, missing DTSTAMP/DTEND, EXDATE
without VALUE=DATE, X-WR-TIMEZONE instead of VTIMEZONE, an impossible date in one event.
We accept what still tells us dates and report the rest; a file that is not iCal at all,
or yields no collection day in the window, is refused with one line.

Expansion is done by recurring-ical-events (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides,
VTIMEZONE, X-WR-TIMEZONE). A timed event's collection date is its start's date in the
city's zone (Asia/Tokyo), so 2026-06-01T23:30Z is collected on 6月2日. Floating times are
taken to be local already.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import icalendar
import recurring_ical_events

from broadcaster.garbage.kinds import KindTable, normalize

# Properties that may name a zone in a multi-zone file, in the order they are trusted.
ZONE_PROPERTIES = ("X-ZONE", "CATEGORIES", "LOCATION")


class CalendarError(ValueError):
    """The file cannot be imported; `str()` is one line a person can act on."""


@dataclass(frozen=True)
class Occurrence:
    """One expanded event: the local date it falls on, its summary, the zone names it gives."""

    date: date
    summary: str
    zone_names: tuple[str, ...]
    uid: str


@dataclass
class DayEntry:
    kinds: set[str] = field(default_factory=set)
    unmapped: list[str] = field(default_factory=list)


@dataclass
class ParsedCalendar:
    """Collection days by zone and date, plus what staff should look at."""

    days: dict[str, dict[date, DayEntry]]
    # (zone, unmapped summary) -> dates it occurs on.
    unmapped: dict[tuple[str, str], list[date]]
    warnings: list[str]

    def zone_days(self, zone: str) -> dict[date, DayEntry]:
        return self.days.get(zone, {})


def parse_calendar(data: bytes) -> icalendar.Calendar:
    """The calendar in `data`, tolerating a BOM and junk after END:VCALENDAR.

    Raises CalendarError when it is not an iCalendar file.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CalendarError("not an iCal file: it is not UTF-8 text") from None
    end = text.rfind("END:VCALENDAR")
    if "BEGIN:VCALENDAR" not in text or end < 0:
        raise CalendarError("not an iCal file: no BEGIN:VCALENDAR … END:VCALENDAR")
    text = text[: end + len("END:VCALENDAR")] + "\r\n"
    # Hand-edited files have blank lines between components; they are not content lines.
    text = "\r\n".join(line for line in text.splitlines() if line.strip())
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise CalendarError(f"not a valid iCal file: {_one_line(exc)}") from None
    if not isinstance(calendar, icalendar.Calendar):
        raise CalendarError("not an iCal file: the top component is not VCALENDAR")
    return calendar


def expand(
    calendar: icalendar.Calendar, start: date, end: date, tz: tzinfo
) -> tuple[list[Occurrence], list[str]]:
    """Occurrences on local dates in [start, end), and warnings about skipped events."""
    warnings = [
        f"event {event.get('UID', '?')} ({_text(event.get('SUMMARY'))}): {name}: {message}; skipped"
        for event in calendar.walk("VEVENT")
        for name, message in getattr(event, "errors", [])
    ]
    try:
        query = recurring_ical_events.of(calendar, skip_bad_series=True)
        # One day of margin each side: a timed event's local date may differ from its UTC one.
        components = query.between(start - timedelta(days=1), end + timedelta(days=1))
    except (recurring_ical_events.InvalidCalendar, ValueError) as exc:
        raise CalendarError(f"the calendar cannot be expanded: {_one_line(exc)}") from None
    occurrences: list[Occurrence] = []
    for component in components:
        start_value = component.get("DTSTART")
        if start_value is None:
            continue
        local_date = _local_date(start_value.dt, tz)
        if not start <= local_date < end:
            continue
        occurrences.append(
            Occurrence(
                date=local_date,
                summary=_text(component.get("SUMMARY")),
                zone_names=_zone_names(component),
                uid=str(component.get("UID", "")),
            )
        )
    occurrences.sort(key=lambda occurrence: (occurrence.date, occurrence.summary))
    return occurrences, warnings


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
) -> ParsedCalendar:
    """Collection days per zone from an iCal file.

    With `zone`, events naming no known zone belong to it and events naming another zone
    are left out; without it, every event must name a known zone. Raises CalendarError
    (nothing is half-read) for a bad file, an unknown zone, or no collection day at all.
    """
    if zone is not None and zone not in zones:
        raise CalendarError(f"unknown zone {zone!r} (known: {', '.join(zones)})")
    calendar = parse_calendar(data)
    occurrences, warnings = expand(calendar, start, end, tz)
    resolve = _zone_resolver(zones, zone_aliases)
    days: dict[str, dict[date, DayEntry]] = defaultdict(dict)
    unmapped: dict[tuple[str, str], list[date]] = defaultdict(list)
    homeless: list[Occurrence] = []
    for occurrence in occurrences:
        if not occurrence.summary or table.is_ignored(occurrence.summary):
            continue
        named = [found for name in occurrence.zone_names if (found := resolve(name))]
        if zone is not None:
            if named and zone not in named:
                continue
            targets = [zone]
        elif named:
            targets = sorted(set(named))
        else:
            homeless.append(occurrence)
            continue
        match = table.match(occurrence.summary)
        for target in targets:
            entry = days[target].setdefault(occurrence.date, DayEntry())
            entry.kinds.update(match.kinds)
            if match.unmapped and match.unmapped not in entry.unmapped:
                entry.unmapped.append(match.unmapped)
                unmapped[(target, match.unmapped)].append(occurrence.date)
    if homeless:
        first = homeless[0]
        raise CalendarError(
            f"{len(homeless)} event(s) name no known zone, e.g. {first.summary!r} on {first.date} "
            f"(names: {', '.join(first.zone_names) or 'none'}); give the zone (--zone) or "
            f"put it in X-ZONE/CATEGORIES/LOCATION (known: {', '.join(zones)}; "
            "others via garbage.zone_aliases)"
        )
    if not any(days.values()):
        where = f" for zone {zone}" if zone else ""
        raise CalendarError(
            f"no collection days{where} between {start} and {end - timedelta(days=1)}"
        )
    return ParsedCalendar(dict(days), dict(unmapped), warnings)


def _zone_resolver(zones: Sequence[str], aliases: Mapping[str, str]) -> Any:
    table = {normalize(name): name for name in zones}
    table.update({normalize(name): target for name, target in aliases.items()})

    def resolve(name: str) -> str | None:
        return table.get(normalize(name))

    return resolve


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
                names.append(_text(item))
            else:
                names.extend(_text(cat) for cat in cats)
    return tuple(name for name in names if name)


def _local_date(value: date | datetime, tz: tzinfo) -> date:
    if isinstance(value, datetime):
        return value.astimezone(tz).date() if value.tzinfo else value.date()
    return value


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    return str(value).strip()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
