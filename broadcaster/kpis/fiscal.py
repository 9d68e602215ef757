"""Japanese fiscal years: April to March, in the city's time zone.

FY2026 is 2026-04-01 00:00 to 2027-04-01 00:00 Asia/Tokyo. Grants, plans and targets are
all stated per fiscal year, so every KPI is cut on these boundaries.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

FIRST_MONTH = 4


def fiscal_year(day: date) -> int:
    """The fiscal year `day` falls in, named by the year its April is in."""
    return day.year if day.month >= FIRST_MONTH else day.year - 1


def fiscal_year_at(instant: datetime, tz: tzinfo) -> int:
    return fiscal_year(instant.astimezone(tz).date())


def first_day(year: int) -> date:
    return date(year, FIRST_MONTH, 1)


def last_day(year: int) -> date:
    return date(year + 1, FIRST_MONTH, 1) - timedelta(days=1)


def bounds(year: int, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of the fiscal year as aware UTC instants."""
    start = datetime.combine(first_day(year), time(0), tz).astimezone(UTC)
    end = datetime.combine(first_day(year + 1), time(0), tz).astimezone(UTC)
    return start, end


def months(year: int) -> list[str]:
    """The year's months in order, as "YYYY-MM" (April first)."""
    out = []
    for offset in range(12):
        month = (FIRST_MONTH - 1 + offset) % 12 + 1
        out.append(f"{year + (0 if month >= FIRST_MONTH else 1)}-{month:02d}")
    return out


def month_of(instant: datetime, tz: tzinfo) -> str:
    local = instant.astimezone(tz)
    return f"{local.year}-{local.month:02d}"


def days(start: date, end: date) -> list[date]:
    """Every day from `start` to `end`, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
