"""Collection days read from a file, whatever its format (iCal, 5374 CSV). Pure.

Both readers end the same way: a summary (「粗大ごみ（要予約）」, a 5374 column header) falls on
a date in a zone, is read into kinds, unmapped text and notes, and lands in one DayEntry per
zone and date. What could not be used is said per series (`Skipped`), so staff can fix the
one bad series of eight instead of losing the whole file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from broadcaster.errors import FeatureRefusal
from broadcaster.garbage.kinds import KindTable, normalize

MAX_WARNINGS_IN_MESSAGE = 3


class CalendarError(FeatureRefusal, ValueError):
    """The file cannot be imported; `str()` is one line a person can act on, ending with
    the parser's first warnings (they often say why, e.g. an impossible DTSTART).

    `code` and `params` word the refusal for staff in their language (broadcaster.catalog);
    `skipped` are the series left out, each with its own code: the API lists them beside
    the file. `message` and `warnings` are the English of logs, the CLI and the record."""

    def __init__(
        self,
        message: str,
        warnings: Sequence[str] = (),
        *,
        code: str = "calendar.refused",
        skipped: Sequence[Skipped] = (),
        **params: Any,
    ) -> None:
        super().__init__(message, code, path="file", **params)
        self.warnings = list(warnings)
        self.skipped = list(skipped)

    def __str__(self) -> str:
        if not self.warnings:
            return self.message
        shown = "; ".join(self.warnings[:MAX_WARNINGS_IN_MESSAGE])
        more = len(self.warnings) - MAX_WARNINGS_IN_MESSAGE
        extra = f" (and {more} more)" if more > 0 else ""
        return " ".join(f"{self.message} — {shown}{extra}".split())


@dataclass(frozen=True)
class Skipped:
    """A series (all events of one UID, or one 5374 cell) that was not imported, and why:
    `reason` in English, `code` and `params` for the catalog (`line`: the file's line
    where the series begins, 0 when unknown)."""

    uid: str
    summary: str
    reason: str
    code: str = "calendar.series.unreadable"
    params: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0

    def __str__(self) -> str:
        summary = self.summary or "(no SUMMARY)"
        return f"{summary} (UID {self.uid or '?'}): {self.reason}; not imported"

    def as_dict(self) -> dict[str, str]:
        return {"uid": self.uid, "summary": self.summary, "reason": self.reason}


@dataclass
class DayEntry:
    kinds: set[str] = field(default_factory=set)
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ParsedCalendar:
    """Collection days by zone and date, plus what staff should look at."""

    days: dict[str, dict[date, DayEntry]]
    # (zone, unmapped summary) -> dates it occurs on.
    unmapped: dict[tuple[str, str], list[date]]
    warnings: list[str]
    skipped: list[Skipped] = field(default_factory=list)

    def zone_days(self, zone: str) -> dict[date, DayEntry]:
        return self.days.get(zone, {})


ZoneResolver = Callable[[str], str | None]


def zone_resolver(zones: Sequence[str], aliases: Mapping[str, str]) -> ZoneResolver:
    """Our zone for a name a file uses (a zone itself or a garbage.zone_aliases key)."""
    table = {normalize(name): name for name in zones}
    table.update({normalize(name): target for name, target in aliases.items()})

    def resolve(name: str) -> str | None:
        return table.get(normalize(name))

    return resolve


class DayCollector:
    """Gathers (zone, date, summary) into DayEntries; notes naming a zone (「（中央）」) are
    labels of the file, not notes for residents, and are dropped."""

    def __init__(self, table: KindTable, resolve: ZoneResolver) -> None:
        self.table = table
        self._resolve = resolve
        self.days: dict[str, dict[date, DayEntry]] = defaultdict(dict)
        self.unmapped: dict[tuple[str, str], list[date]] = defaultdict(list)

    def add(
        self, zone: str, day: date, summary: str, extra_notes: Sequence[str] = ()
    ) -> None:
        match = self.table.match(summary)
        entry = self.days[zone].get(day)
        if entry is None:
            entry = self.days[zone][day] = DayEntry()
        entry.kinds.update(match.kinds)
        if match.unmapped and match.unmapped not in entry.unmapped:
            entry.unmapped.append(match.unmapped)
            self.unmapped[(zone, match.unmapped)].append(day)
        for note in (*match.notes, *extra_notes):
            if note not in entry.notes and self._resolve(note) is None:
                entry.notes.append(note)

    def result(self, warnings: list[str], skipped: list[Skipped]) -> ParsedCalendar:
        return ParsedCalendar(
            {zone: days for zone, days in self.days.items() if days},
            dict(self.unmapped),
            warnings,
            skipped,
        )
