"""Benefit programs (給付金・手当) and who has been told about each.

A notification row is the promise "this resident has been sent this program's notice"; it
is unique per (program, resident) and written in the transaction that creates the
broadcast carrying the notice, so no re-run and no concurrent run tells anyone twice.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from broadcaster.db import JSONType, UTCDateTime


class BenefitProgram(SQLModel, table=True):
    __tablename__ = "benefit_program"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    # A segments rule over verified attributes (the same JSON as segment rules).
    rule: dict[str, Any] = Field(sa_type=JSONType)
    # Template parameters of the notice: amount, text, ... (benefit_notice template).
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    deadline: date | None = None
    department_id: int = Field(foreign_key="department.id", index=True)
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class BenefitNotification(SQLModel, table=True):
    __tablename__ = "benefit_notification"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "resident_id", name="uq_benefit_notification"),
    )

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="benefit_program.id", index=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    broadcast_id: int = Field(foreign_key="broadcast.id", index=True)
    notified_at: datetime = Field(sa_type=UTCDateTime)
