"""Time at the edge: aware UTC in storage, Asia/Tokyo (the configured zone) on screen.

Domain functions take `now` as an argument; only the edges (API handlers, scheduler jobs,
CLI commands) call `utcnow()`, so tests control time with freezegun at those edges.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already (what SQLite hands back)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local(value: datetime, tz: tzinfo) -> datetime:
    """The same instant shown in the city's zone."""
    return as_utc(value).astimezone(tz)
