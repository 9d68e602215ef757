"""One way to show a moment to staff: ISO 8601 in the city's zone, with its offset.

Storage keeps aware UTC (`broadcaster.db.UTCDateTime`). Routes used to show what they had
at hand: `Z` from one serialiser, `+00:00` from a raw row, `+09:00` where a route had
converted, and no offset at all where SQLite had handed back a naive value. Every response
model now types its moments as `CityTimestamp`, so the answer is always
`2026-05-01T10:00:00+09:00` whichever route gives it.

The zone is the configured one (`Settings.timezone`, Asia/Tokyo). A pydantic serialiser
sees no settings, so `create_app` sets it once with `use_zone`; one process serves one
city.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, PlainSerializer, WithJsonSchema

from broadcaster.clock import local

_zone: list[tzinfo] = [ZoneInfo("Asia/Tokyo")]


def use_zone(zone: tzinfo) -> None:
    """Show moments in `zone` from now on (the app's configured zone, set at start)."""
    _zone[0] = zone


def city_zone() -> tzinfo:
    return _zone[0]


def city_iso(value: datetime) -> str:
    """`value` (aware, or naive UTC as SQLite returns it) as ISO 8601 in the city's zone."""
    return local(value, _zone[0]).isoformat()


CityTimestamp = Annotated[
    datetime,
    PlainSerializer(city_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
"""A moment in a response: stored UTC, shown in the city's zone with its offset."""


def city_values(row: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    """`row` as JSON-ready data with its moments as `city_iso` text: for the few answers
    that pass a whole row on as free-form JSON (a resident's data export)."""
    data = row.model_dump(mode="json", exclude=exclude)
    for name, value in row.model_dump(exclude=exclude).items():
        if isinstance(value, datetime):
            data[name] = city_iso(value)
    return data


def city_json(value: Any) -> Any:
    """JSON kept as written at the time (an audit entry's before/after), with each moment
    in it (an ISO 8601 text with an offset) shown in the city's zone like every other."""
    if isinstance(value, dict):
        return {k: city_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [city_json(v) for v in value]
    if isinstance(value, str) and _MOMENT.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return city_iso(moment) if moment.tzinfo is not None else value
    return value


_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}.*(Z|[+-]\d{2}:\d{2})$")
