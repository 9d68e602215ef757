"""Import a calendar (iCal, or a 5374 data set): replace each zone's future collection days
in one transaction, and say what changed (added, removed, moved, kinds changed).

Only days from today (Asia/Tokyo) on are replaced; past days are history. Staff changes
(cancel/move) to future days are overwritten by the new file: the file is the truth. A
refused file (CalendarError) changes nothing and is recorded for staff.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from broadcaster import audit
from broadcaster.clock import local
from broadcaster.garbage.days import CalendarError, ParsedCalendar
from broadcaster.garbage.ical import read_days
from broadcaster.garbage.kinds import kind_table
from broadcaster.garbage.models import CalendarImport, CollectionDay, DayStatus
from broadcaster.garbage.reminders import withdraw_unsent
from broadcaster.settings import Settings

# A kind that disappears from one date and appears on another at most this far away was moved.
MOVE_WINDOW_DAYS = 7
UNMAPPED_PREFIX = "?"
# A note on a day (「要予約」) is compared like a kind, so a changed note is a changed day.
NOTE_PREFIX = "※"

DayKinds = Mapping[date, frozenset[str]]


@dataclass
class ZoneDiff:
    """What a re-import changes in one zone; kinds are ids (an unmapped summary is '?text')."""

    zone: str
    added: list[tuple[date, list[str]]] = field(default_factory=list)
    removed: list[tuple[date, list[str]]] = field(default_factory=list)
    moved: list[tuple[str, date, date]] = field(default_factory=list)
    changed: list[tuple[date, list[str], list[str]]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.moved or self.changed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": [{"date": d.isoformat(), "kinds": k} for d, k in self.added],
            "removed": [{"date": d.isoformat(), "kinds": k} for d, k in self.removed],
            "moved": [
                {"kind": k, "from": a.isoformat(), "to": b.isoformat()} for k, a, b in self.moved
            ],
            "changed": [
                {"date": d.isoformat(), "before": a, "after": b} for d, a, b in self.changed
            ],
        }


@dataclass
class ImportResult:
    zones: list[str]
    days: int
    diffs: dict[str, ZoneDiff]
    unmapped: list[dict[str, Any]]
    warnings: list[str]
    dry_run: bool
    import_id: int | None = None
    # Series left out (bad DTSTART, unreadable RRULE…), each {"uid", "summary", "reason"}.
    skipped: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "dry_run": self.dry_run,
            "zones": self.zones,
            "days": self.days,
            "changes": {zone: diff.as_dict() for zone, diff in self.diffs.items()},
            "unmapped": self.unmapped,
            "skipped": self.skipped,
            "warnings": self.warnings,
        }


def diff_days(zone: str, old: DayKinds, new: DayKinds) -> ZoneDiff:
    """Pure: compare (date, kind) pairs; a kind leaving one date for a near one is a move."""
    old_pairs = {(d, k) for d, kinds in old.items() for k in kinds}
    new_pairs = {(d, k) for d, kinds in new.items() for k in kinds}
    gone = sorted(old_pairs - new_pairs)
    came = sorted(new_pairs - old_pairs)
    diff = ZoneDiff(zone)
    for day, kind in list(gone):
        # The nearest unclaimed new date of the same kind within the window.
        candidates = [
            (abs((d - day).days), d)
            for d, k in came
            if k == kind and abs((d - day).days) <= MOVE_WINDOW_DAYS
        ]
        if candidates:
            _, target = min(candidates)
            diff.moved.append((kind, day, target))
            gone.remove((day, kind))
            came.remove((target, kind))
    left_gone: dict[date, list[str]] = {}
    left_came: dict[date, list[str]] = {}
    for d, k in gone:
        left_gone.setdefault(d, []).append(k)
    for d, k in came:
        left_came.setdefault(d, []).append(k)
    for day in sorted(set(left_gone) | set(left_came)):
        if day in old and day in new:
            diff.changed.append((day, sorted(old[day]), sorted(new[day])))
        elif day in new:
            diff.added.append((day, sorted(left_came[day])))
        else:
            diff.removed.append((day, sorted(left_gone[day])))
    diff.moved.sort(key=lambda move: (move[1], move[0]))
    return diff


def today_in(settings: Settings, now: datetime) -> date:
    return local(now, settings.tz).date()


def window(settings: Settings, now: datetime) -> tuple[date, date]:
    """The dates an import replaces: [today, today + garbage.expand_days)."""
    today = today_in(settings, now)
    return today, today + timedelta(days=settings.garbage.expand_days)


def parse_for_import(
    data: bytes, settings: Settings, now: datetime, zone: str | None, strict: bool = False
) -> ParsedCalendar:
    """The iCal file read over the configured window."""
    start, end = window(settings, now)
    return read_days(
        data,
        start=start,
        end=end,
        tz=settings.tz,
        table=kind_table(settings),
        zones=settings.residents.zones,
        zone_aliases=settings.garbage.zone_aliases,
        zone=zone,
        strict=strict,
        max_occurrences=settings.garbage.max_occurrences_per_event,
    )


def import_calendar(
    session: Session,
    data: bytes,
    *,
    settings: Settings,
    now: datetime,
    actor: str,
    source: str,
    zone: str | None = None,
    dry_run: bool = False,
    strict: bool = False,
    department_id: int | None = None,
) -> ImportResult:
    """Replace the future days of every zone in the iCal file (or `zone`), in the caller's
    transaction (flushed, not committed). Raises CalendarError and writes nothing when the
    file cannot be used; a dry run computes the same result and writes nothing either.
    """
    parsed = parse_for_import(data, settings, now, zone, strict)
    return replace_days(
        session,
        parsed,
        settings=settings,
        now=now,
        actor=actor,
        source=source,
        dry_run=dry_run,
        department_id=department_id,
    )


def import_5374(
    session: Session,
    files: Mapping[str, bytes],
    *,
    settings: Settings,
    now: datetime,
    actor: str,
    source: str,
    zone_column: str | None = None,
    dry_run: bool = False,
    strict: bool = False,
    department_id: int | None = None,
) -> ImportResult:
    """Replace the future days of every zone in a 5374 data set (area_days.csv, with
    center.csv and remarks.csv when given), exactly as an iCal import does."""
    # The 5374 reader is loaded by 5374 imports only.
    from broadcaster.garbage.data5374 import read_5374

    start, end = window(settings, now)
    parsed = read_5374(
        files,
        start=start,
        end=end,
        table=kind_table(settings),
        zones=settings.residents.zones,
        zone_aliases=settings.garbage.zone_aliases,
        zone_column=zone_column,
        strict=strict,
    )
    return replace_days(
        session,
        parsed,
        settings=settings,
        now=now,
        actor=actor,
        source=source,
        dry_run=dry_run,
        department_id=department_id,
    )


def replace_days(
    session: Session,
    parsed: ParsedCalendar,
    *,
    settings: Settings,
    now: datetime,
    actor: str,
    source: str,
    dry_run: bool = False,
    department_id: int | None = None,
) -> ImportResult:
    """Replace the future days of every zone in `parsed` (from any format), in the caller's
    transaction (flushed, not committed); a dry run only computes the result."""
    today = today_in(settings, now)
    zones = sorted(parsed.days)
    diffs: dict[str, ZoneDiff] = {}
    for name in zones:
        diffs[name] = diff_days(name, current_days(session, name, today), _as_kinds(parsed, name))
    result = ImportResult(
        zones=zones,
        days=sum(len(days) for days in parsed.days.values()),
        diffs=diffs,
        unmapped=[
            {"zone": z, "summary": text, "dates": [d.isoformat() for d in sorted(dates)]}
            for (z, text), dates in sorted(parsed.unmapped.items())
        ],
        warnings=parsed.warnings,
        dry_run=dry_run,
        skipped=[item.as_dict() for item in parsed.skipped],
    )
    if dry_run:
        return result
    record = CalendarImport(at=now, actor=actor, source=source[:500], zones=zones, days=result.days)
    session.add(record)
    session.flush()
    table = kind_table(settings)
    rows: list[dict[str, Any]] = []
    for name in zones:
        session.execute(
            sa.delete(CollectionDay).where(
                col(CollectionDay.zone) == name, col(CollectionDay.date) >= today
            )
        )
        for day, entry in sorted(parsed.days[name].items()):
            rows.append(
                {
                    "zone": name,
                    "date": day,
                    "kinds": table.order(entry.kinds),
                    "unmapped": list(entry.unmapped),
                    "notes": list(entry.notes),
                    "status": DayStatus.scheduled,
                    "import_id": record.id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    if rows:
        # One executemany, not an ORM object per day: a 400-day file of 4 zones is 1,600 rows.
        session.execute(sa.insert(CollectionDay), rows)
    result.import_id = record.id
    record.report = result.as_dict()
    session.add(record)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="calendar.import",
        entity="calendar_import",
        entity_id=record.id,
        department_id=department_id,
        after={"source": source[:500], "zones": zones, "days": result.days},
    )
    session.flush()
    # Scheduled reminders for days that changed are withdrawn; the job plans them again.
    for name, diff in diffs.items():
        touched = (
            {d for d, _ in diff.added}
            | {d for d, _ in diff.removed}
            | {d for d, _, _ in diff.changed}
        )
        touched |= {d for _, a, b in diff.moved for d in (a, b)}
        withdraw_unsent(session, name, touched, now, reason="calendar re-imported")
    return result


def record_refusal(
    session: Session,
    *,
    now: datetime,
    actor: str,
    source: str,
    zone: str | None,
    error: CalendarError,
) -> CalendarImport:
    """Keep a refused import on record so staff see why the calendar did not change."""
    row = CalendarImport(
        at=now,
        actor=actor,
        source=source[:500],
        zones=[zone] if zone else [],
        ok=False,
        error=str(error),
        # The code and params word the reason in Japanese wherever the record is shown.
        report={
            "reason": error.message,
            "code": error.code,
            "params": error.params,
            "warnings": error.warnings,
        },
    )
    session.add(row)
    session.flush()
    return row


def current_days(session: Session, zone: str, today: date) -> dict[date, frozenset[str]]:
    """The zone's scheduled future days as (date -> kinds incl. '?unmapped')."""
    rows = session.exec(
        select(CollectionDay).where(
            CollectionDay.zone == zone,
            col(CollectionDay.date) >= today,
            CollectionDay.status == DayStatus.scheduled,
        )
    ).all()
    return {row.date: _day_kinds(row.kinds, row.unmapped, row.notes) for row in rows}


def _as_kinds(parsed: ParsedCalendar, zone: str) -> dict[date, frozenset[str]]:
    return {
        day: _day_kinds(entry.kinds, entry.unmapped, entry.notes)
        for day, entry in parsed.zone_days(zone).items()
    }


def _day_kinds(
    kinds: Iterable[str], unmapped: Iterable[str], notes: Iterable[str]
) -> frozenset[str]:
    return (
        frozenset(kinds)
        | {UNMAPPED_PREFIX + text for text in unmapped}
        | {NOTE_PREFIX + note for note in notes}
    )
