"""A plain-Python reading of segment rules, written from the documented semantics (not
from the compiler), so the property test can hold the SQL to it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PlainResident:
    district: str | None = None
    garbage_zone: str | None = None
    language: str = "ja"
    reminder_timing: str = "eve"
    follow_state: str = "following"
    birth_date: dt.date | None = None
    birth_year: int | None = None
    interests: set[str] = field(default_factory=set)
    attributes: dict[str, str] = field(default_factory=dict)
    opt_outs: set[str] = field(default_factory=set)


def age_on(resident: PlainResident, on: dt.date) -> int | None:
    if resident.birth_date is not None:
        born = resident.birth_date
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if resident.birth_year is not None:
        return on.year - resident.birth_year
    return None


def _read(resident: PlainResident, name: str, kinds: dict[str, str], on: dt.date) -> Any:
    """The value of a field, None when unset; typed like the rule's values."""
    if name == "age":
        return age_on(resident, on)
    if name in ("district", "garbage_zone", "language", "reminder_timing", "birth_year"):
        return getattr(resident, name)
    raw = resident.attributes.get(name)
    if raw is None:
        return None
    kind = kinds[name]
    if kind == "integer":
        return int(raw)
    if kind == "boolean":
        return raw == "true"
    if kind == "date":
        return dt.date.fromisoformat(raw)
    return raw


def matches(
    rule: dict[str, Any], resident: PlainResident, kinds: dict[str, str], on: dt.date
) -> bool:
    if "all" in rule:
        return all(matches(child, resident, kinds, on) for child in rule["all"])
    if "any" in rule:
        return any(matches(child, resident, kinds, on) for child in rule["any"])
    if "not" in rule:
        return not matches(rule["not"], resident, kinds, on)
    name, op, value = rule["field"], rule["op"], rule["value"]
    if name == "interests":
        if op == "is_set":
            return bool(resident.interests) == value
        if op == "contains":
            return value in resident.interests
        return bool(resident.interests & set(value))
    current = _read(resident, name, kinds, on)
    if op == "is_set":
        return (current is not None) == value
    if current is None:
        return False
    if kinds.get(name) == "date":
        value = (
            [dt.date.fromisoformat(v) for v in value]
            if isinstance(value, list)
            else dt.date.fromisoformat(value)
        )
    return {
        "eq": lambda: current == value,
        "ne": lambda: current != value,
        "in": lambda: current in value,
        "not_in": lambda: current not in value,
        "gte": lambda: current >= value,
        "lte": lambda: current <= value,
        "between": lambda: value[0] <= current <= value[1],
    }[op]()


def in_audience(
    rule: dict[str, Any] | None,
    resident: PlainResident,
    kinds: dict[str, str],
    on: dt.date,
    category: str | None,
) -> bool:
    if resident.follow_state != "following":
        return False
    if category is not None and category in resident.opt_outs:
        return False
    return rule is None or matches(rule, resident, kinds, on)
