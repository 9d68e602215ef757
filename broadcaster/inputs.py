"""Types every route shares at the boundary, so bad input is refused by validation (422)
with the field named, never by the database (500).

- `Id`: a row id in a path, query or body. SQLite and PostgreSQL keep ids in 64 bits; a
  larger number made the driver raise OverflowError in 27 operations.
- `CityDateTime`: a date and time given by staff (ISO 8601; without an offset it is the
  city's time). Read as text only (`since=0.5` is not a Unix time), and refused when it
  cannot be converted to UTC (`9999-12-31T23:59:59-12:00` is past year 9999 in UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import annotated_types
from pydantic import BeforeValidator, WithJsonSchema

DB_INT_MAX = 2**63 - 1

Id = Annotated[int, annotated_types.Ge(1), annotated_types.Le(DB_INT_MAX)]
Count = Annotated[int, annotated_types.Ge(0), annotated_types.Le(DB_INT_MAX)]


def parse_city_datetime(value: Any) -> datetime:
    """ISO 8601 text (or a datetime) -> an aware datetime that survives conversion to UTC.

    A naive value is left naive (the caller reads it in the city's zone)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("expected a date and time like 2026-05-01T10:00:00+09:00") from None
    else:
        raise ValueError("expected a date and time like 2026-05-01T10:00:00+09:00 (text)")
    try:
        # Within a day of the ends of the calendar, converting to UTC (or to the city's
        # zone, for display) overflows.
        (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
        if not (2 <= parsed.year <= 9998):
            raise OverflowError
    except OverflowError:
        raise ValueError("the date is out of range") from None
    return parsed


CityDateTime = Annotated[
    datetime,
    BeforeValidator(parse_city_datetime),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

