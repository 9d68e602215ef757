"""Residents: who follows the city's account, what they chose, what staff verified.

A block never deletes a resident: the follow history must keep counts true, and a
re-follow restores the old choices. Interests and opt-outs are rows, not JSON, so segment
rules compile to indexed SQL on every engine.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from broadcaster.db import UTCDateTime


class FollowState(StrEnum):
    following = "following"
    blocked = "blocked"


class ReminderTiming(StrEnum):
    """When a resident wants the garbage reminder (choices offered come from configuration)."""

    eve = "eve"
    morning = "morning"
    off = "off"


class Resident(SQLModel, table=True):
    __tablename__ = "resident"
    __table_args__ = (
        sa.Index("ix_resident_segment", "follow_state", "district", "language"),
        # Covers the usual audience rule (district, language, age) without reading the
        # table rows; see bench/segments.py for the measurement.
        sa.Index(
            "ix_resident_audience",
            "follow_state",
            "district",
            "language",
            "birth_date",
            "birth_year",
        ),
        # Followers by garbage zone without reading rows (the console's residents page).
        sa.Index("ix_resident_follow_zone", "follow_state", "garbage_zone"),
    )

    id: int | None = Field(default=None, primary_key=True)
    line_user_id: str = Field(max_length=64, unique=True, index=True)
    follow_state: str = Field(default=FollowState.following, max_length=16)
    followed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    blocked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refollowed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    follow_count: int = 1
    district: str | None = Field(default=None, max_length=64, index=True)
    garbage_zone: str | None = Field(default=None, max_length=64, index=True)
    language: str = Field(default="ja", max_length=16)
    reminder_timing: str = Field(default=ReminderTiming.eve, max_length=16)
    # Where the resident is in the LINE settings conversation (None: not in it).
    enrollment_step: str | None = Field(default=None, max_length=32)
    # Staff-verified attributes (after the city's own identity check).
    birth_date: date | None = Field(default=None, index=True)
    birth_year: int | None = Field(default=None, index=True)
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verified_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ResidentInterest(SQLModel, table=True):
    __tablename__ = "resident_interest"
    __table_args__ = (sa.Index("ix_resident_interest_interest", "interest", "resident_id"),)

    resident_id: int = Field(foreign_key="resident.id", primary_key=True, ondelete="CASCADE")
    interest: str = Field(max_length=64, primary_key=True)


class ResidentOptOut(SQLModel, table=True):
    """A category of message the resident asked not to receive (emergencies ignore it)."""

    __tablename__ = "resident_opt_out"
    __table_args__ = (sa.Index("ix_resident_opt_out_category", "category", "resident_id"),)

    resident_id: int = Field(foreign_key="resident.id", primary_key=True, ondelete="CASCADE")
    category: str = Field(max_length=64, primary_key=True)


class ResidentAttribute(SQLModel, table=True):
    """A staff-verified attribute: a household flag (value "true") or a configured extra."""

    __tablename__ = "resident_attribute"
    __table_args__ = (sa.Index("ix_resident_attribute_name_value", "name", "value", "resident_id"),)

    resident_id: int = Field(foreign_key="resident.id", primary_key=True, ondelete="CASCADE")
    name: str = Field(max_length=64, primary_key=True)
    value: str = Field(max_length=256)
    verified_at: datetime = Field(sa_type=UTCDateTime)
    verified_by: str = Field(max_length=128)


def mask_user_id(line_user_id: str) -> str:
    """Enough of a LINE user id to tell residents apart in logs and previews, no more."""
    if len(line_user_id) <= 8:
        return "…"
    return f"{line_user_id[:5]}…{line_user_id[-3:]}"
