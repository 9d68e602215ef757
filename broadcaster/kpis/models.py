"""The KPI tables: follow history, surveys and their answers, LINE's statistics as fetched.

Resident tables keep only the latest follow and block; a friends-over-time series needs
every one, so each follow and block the webhook applies is also written here as an event
with the time LINE says it happened.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from broadcaster.db import UTCDateTime


class FriendEventKind(StrEnum):
    follow = "follow"
    unfollow = "unfollow"


class FriendEvent(SQLModel, table=True):
    """One follow or block (unfollow) of the city's account by one resident."""

    __tablename__ = "friend_event"
    __table_args__ = (
        sa.Index("ix_friend_event_resident_time", "resident_id", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id")
    kind: str = Field(max_length=16)
    # When LINE says it happened (the event's timestamp), not when it arrived.
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class SurveyAudience(StrEnum):
    residents = "residents"  # asked in LINE, answered by postback
    staff = "staff"  # answered on a web page opened with a one-time link


class Survey(SQLModel, table=True):
    """A 5-point question; for residents it is sent as a broadcast with quick replies."""

    __tablename__ = "survey"

    id: int | None = Field(default=None, primary_key=True)
    # A built-in KPI survey's key (delivery_satisfaction, service_satisfaction,
    # staff_satisfaction) or None for a department's own.
    kpi: str | None = Field(default=None, max_length=64, index=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    audience: str = Field(default=SurveyAudience.residents, max_length=16)
    title: str = Field(max_length=200)
    question: str = Field(max_length=500)
    # Asked after a score; the resident's next text message is kept as the comment.
    followup: str | None = Field(default=None, max_length=500)
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id")
    opens_at: datetime = Field(sa_type=UTCDateTime)
    closes_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime)


class SurveyAnswer(SQLModel, table=True):
    """One respondent's answer; a second answer before the close replaces the first."""

    __tablename__ = "survey_answer"
    __table_args__ = (
        sa.UniqueConstraint("survey_id", "resident_id", name="uq_survey_answer_resident"),
        sa.UniqueConstraint("survey_id", "token_id", name="uq_survey_answer_token"),
    )

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id", index=True)
    resident_id: int | None = Field(default=None, foreign_key="resident.id")
    token_id: int | None = Field(default=None, foreign_key="survey_token.id")
    score: int
    comment: str | None = Field(default=None, sa_type=sa.Text)
    # Waiting for the free-text follow-up (the resident's next text message).
    awaiting_comment: bool = False
    # The resident's district when they answered, for results per district.
    district: str | None = Field(default=None, max_length=64)
    answered_at: datetime = Field(sa_type=UTCDateTime)
    changed: int = 0


class SurveyToken(SQLModel, table=True):
    """A one-time link to a staff survey; only its SHA-256 digest is stored."""

    __tablename__ = "survey_token"

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class UnitStatistic(SQLModel, table=True):
    """LINE's figures for one broadcast's aggregation unit, as last fetched (None: LINE
    reports nothing below 20 users)."""

    __tablename__ = "line_unit_statistic"

    broadcast_id: int = Field(foreign_key="broadcast.id", primary_key=True)
    unit: str = Field(max_length=30)
    unique_impression: int | None = None
    unique_click: int | None = None
    unique_media_played: int | None = None
    fetched_at: datetime = Field(sa_type=UTCDateTime)


class FollowerStatistic(SQLModel, table=True):
    """LINE's follower figures for one day (Asia/Tokyo), as fetched."""

    __tablename__ = "line_follower_statistic"

    day: str = Field(max_length=8, primary_key=True)  # yyyyMMdd, as LINE names it
    status: str = Field(max_length=16)
    followers: int | None = None
    targeted_reaches: int | None = None
    blocks: int | None = None
    fetched_at: datetime = Field(sa_type=UTCDateTime)


class FriendFigure(SQLModel, table=True):
    """One district's change in friends on one local day, as last tallied from the follow
    history (`kpis.friend_figures`): pages read these few thousand rows instead of
    replaying every resident's history on each request."""

    __tablename__ = "friend_figure"

    district: str = Field(max_length=100, primary_key=True)
    day: date = Field(primary_key=True)  # Asia/Tokyo (the city's time zone)
    friends: int = 0  # the change in friends that day (follows that began one, less blocks)
    new_friends: int = 0
    refollows: int = 0
    blocks: int = 0


class FiguresTally(SQLModel, table=True):
    """When a tally of figures (`friend_figure`) was last made: readers use it only while
    it is recent, and say how recent."""

    __tablename__ = "figures_tally"

    name: str = Field(max_length=32, primary_key=True)
    tallied_at: datetime = Field(sa_type=UTCDateTime)
