"""Tables of the garbage calendar: collection days, imports, fetched sources, reminders sent.

A collection day is one row per (zone, date) holding every kind collected that day, so two
kinds on one day are one reminder. The calendar file is the truth: a re-import replaces a
zone's future days; staff changes (cancel/move) are kept on the row with their reason.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from broadcaster.db import JSONType, UTCDateTime


class DayStatus(StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"


class CollectionDay(SQLModel, table=True):
    __tablename__ = "collection_day"
    __table_args__ = (sa.UniqueConstraint("zone", "date", name="uq_collection_day_zone_date"),)

    id: int | None = Field(default=None, primary_key=True)
    zone: str = Field(max_length=64, index=True)
    date: dt.date = Field(index=True)
    # Kind ids from garbage.kinds, in table order.
    kinds: list[str] = Field(default_factory=list, sa_type=JSONType)
    # Summaries no alias matched, as the city wrote them (shown to residents as written).
    unmapped: list[str] = Field(default_factory=list, sa_type=JSONType)
    # Notes the city gave with the day (「要予約」 from 「粗大ごみ（要予約）」), shown with it.
    notes: list[str] = Field(
        default_factory=list, sa_type=JSONType, sa_column_kwargs={"server_default": "[]"}
    )
    status: str = Field(default=DayStatus.scheduled, max_length=16)
    # Why staff cancelled or moved it (「台風のため」), shown in the correction.
    reason: str | None = Field(default=None, max_length=200)
    moved_from: dt.date | None = None
    import_id: int | None = Field(default=None, foreign_key="calendar_import.id")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)


class CalendarImport(SQLModel, table=True):
    """One import attempt (file, upload or fetch): what it changed, or why it was refused."""

    __tablename__ = "calendar_import"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=128)
    source: str = Field(max_length=500)
    zones: list[str] = Field(default_factory=list, sa_type=JSONType)
    ok: bool = True
    error: str | None = Field(default=None, sa_type=sa.Text)
    days: int = 0
    report: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


class CalendarSource(SQLModel, table=True):
    """A calendar fetched from a URL on a schedule, and how its last fetches went."""

    __tablename__ = "calendar_source"

    id: int | None = Field(default=None, primary_key=True)
    # Our zone, or "*" for a file naming its zones itself.
    zone: str = Field(max_length=64, unique=True)
    url: str = Field(max_length=1000)
    last_attempt_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_import_id: int | None = Field(default=None, foreign_key="calendar_import.id")
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    last_error_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    consecutive_failures: int = 0


class GarbageReminder(SQLModel, table=True):
    """The reminder broadcast created for one zone, day and timing: at most one, ever."""

    __tablename__ = "garbage_reminder"
    __table_args__ = (
        sa.UniqueConstraint("zone", "date", "timing", name="uq_garbage_reminder_zone_date_timing"),
    )

    id: int | None = Field(default=None, primary_key=True)
    zone: str = Field(max_length=64)
    date: dt.date
    timing: str = Field(max_length=16)
    kinds: list[str] = Field(default_factory=list, sa_type=JSONType)
    broadcast_id: int = Field(foreign_key="broadcast.id", index=True)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    # The correction broadcast sent after the day was cancelled or moved, if any.
    correction_id: int | None = Field(default=None, foreign_key="broadcast.id")


class SortingItem(SQLModel, table=True):
    """One entry of the city's sorting dictionary (品目 -> 分別区分): what a resident who
    sends 「電池」 is told. An import replaces the whole dictionary."""

    __tablename__ = "sorting_item"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    # ふりがな as the city gave it (5374 target.csv `furigana`); matched like the name.
    reading: str = Field(default="", max_length=200)
    category: str = Field(max_length=100)
    notice: str = Field(default="", sa_type=sa.Text)
    # Language -> {"name", "category", "notice"} where the dictionary has that language.
    translations: dict[str, dict[str, str]] = Field(default_factory=dict, sa_type=JSONType)
    import_id: int | None = Field(default=None, foreign_key="calendar_import.id", index=True)
