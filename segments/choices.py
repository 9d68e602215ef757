"""What a resident has chosen, what they may choose, and what one turn of the settings
conversation (配信設定) changes.

The conversation (`segments.enrollment`) is pure: a resident's current `Choices` and one
event in, an `Outcome` (column changes, the new interest set, reply messages) out. The
webhook reads `Choices` from the Resident row and applies the `Outcome` in one transaction.
`Options` are the configured lists every answer is checked against, so a forged or stale
value changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from broadcaster.settings import Settings
from segments.catalog import Texts, texts_for
from segments.residents import ReminderTiming


@dataclass(frozen=True, slots=True)
class Options:
    """What residents may choose, from configuration (`[residents]`), and the city's labels
    for those names per language."""

    districts: tuple[str, ...]
    zones: tuple[str, ...]
    interests: tuple[str, ...]
    languages: tuple[str, ...]
    categories: tuple[str, ...] = ()
    reminders: tuple[str, ...] = tuple(t.value for t in ReminderTiming)
    eve_time: time = time(19, 0)
    morning_time: time = time(6, 30)
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        """Lists from `[residents]`; reminder timings and their times from `[garbage]`."""
        residents = settings.residents
        garbage = settings.garbage
        return cls(
            districts=tuple(residents.districts),
            zones=tuple(residents.zones),
            interests=tuple(residents.interests),
            languages=tuple(residents.languages),
            categories=tuple(residents.categories),
            reminders=tuple(garbage.timings),
            eve_time=garbage.eve_time,
            morning_time=garbage.morning_time,
            labels=residents.labels,
        )

    def values_for(self, key: str) -> tuple[str, ...]:
        return {
            "district": self.districts,
            "zone": self.zones,
            "reminder": self.reminders,
            "language": self.languages,
            "lang": self.languages,
            "interest": self.interests,
            "stop": self.categories,
        }[key]

    def texts(self, language: str) -> Texts:
        return texts_for(language, self.labels)

    def reminder_label(self, texts: Texts, timing: str) -> str:
        at = {
            ReminderTiming.eve.value: self.eve_time,
            ReminderTiming.morning.value: self.morning_time,
        }
        if timing in at:
            return texts(f"reminder.{timing}", time=texts.clock(at[timing].hour, at[timing].minute))
        return texts("reminder.off") if timing == ReminderTiming.off.value else timing


@dataclass(frozen=True, slots=True)
class Choices:
    """The part of a resident the conversation reads."""

    district: str | None = None
    garbage_zone: str | None = None
    reminder_timing: str = ReminderTiming.eve.value
    interests: frozenset[str] = frozenset()
    language: str = "ja"
    step: str | None = None
    opt_outs: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to store and what to answer. `changes` maps Resident columns to new values
    (`enrollment_step` included); `interests` and `opt_outs` are the complete new sets, or
    None if unchanged. The webhook relinks the resident's rich menu when `changes` sets
    the language or the district."""

    changes: dict[str, Any] = field(default_factory=dict)
    interests: frozenset[str] | None = None
    opt_outs: frozenset[str] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
