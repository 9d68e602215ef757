"""Saved segments: a named rule a department reuses, kept as immutable versions.

Editing a segment adds a version instead of changing one, so a broadcast that recorded
(segment_id, version, rule) can always show what it was sent to. Names are unique per
department, not citywide: two departments may both have 「高齢者」.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select

from broadcaster.db import JSONType, UTCDateTime
from broadcaster.errors import FeatureRefusal
from segments.rules import Rule, rule_to_json


class SegmentError(FeatureRefusal, ValueError):
    """A segment change is refused (e.g. the name is taken); str() says why, `code` and
    `params` word it in the reader's language (broadcaster.catalog)."""


class Segment(SQLModel, table=True):
    __tablename__ = "segment"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "name", name="uq_segment_department_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    name: str = Field(max_length=128)
    description: str = Field(default="", max_length=1000)
    current_version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=128)


class SegmentVersion(SQLModel, table=True):
    __tablename__ = "segment_version"
    __table_args__ = (sa.UniqueConstraint("segment_id", "version", name="uq_segment_version"),)

    id: int | None = Field(default=None, primary_key=True)
    segment_id: int = Field(foreign_key="segment.id", index=True, ondelete="CASCADE")
    version: int
    rule: dict[str, Any] = Field(sa_type=JSONType)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=128)


def _name_taken(session: Session, department_id: int, name: str, exclude: int | None) -> bool:
    query = select(Segment.id).where(Segment.department_id == department_id, Segment.name == name)
    if exclude is not None:
        query = query.where(Segment.id != exclude)
    return session.exec(query).first() is not None


def create_segment(
    session: Session,
    *,
    department_id: int,
    name: str,
    rule: Rule,
    actor: str,
    now: datetime,
    description: str = "",
) -> tuple[Segment, SegmentVersion]:
    """A new segment at version 1, flushed in the caller's transaction.

    Raises SegmentError if the department already has a segment of that name.
    """
    if _name_taken(session, department_id, name, None):
        raise SegmentError(
            f"this department already has a segment named {name!r}", "segment.name_taken",
            name=name,
        )
    segment = Segment(
        department_id=department_id,
        name=name,
        description=description,
        current_version=1,
        created_at=now,
        updated_at=now,
        created_by=actor,
    )
    session.add(segment)
    session.flush()
    assert segment.id is not None
    version = SegmentVersion(
        segment_id=segment.id, version=1, rule=rule_to_json(rule), created_at=now, created_by=actor
    )
    session.add(version)
    session.flush()
    return segment, version


def update_segment(
    session: Session,
    segment: Segment,
    *,
    actor: str,
    now: datetime,
    rule: Rule | None = None,
    name: str | None = None,
    description: str | None = None,
) -> SegmentVersion | None:
    """Rename/describe the segment and, when `rule` is given, add the next version.

    Returns the new version (None when the rule was not given or is unchanged).
    Raises SegmentError if the new name is taken in the department.
    """
    assert segment.id is not None
    if name is not None and name != segment.name:
        if _name_taken(session, segment.department_id, name, segment.id):
            raise SegmentError(
                f"this department already has a segment named {name!r}", "segment.name_taken",
                name=name,
            )
        segment.name = name
    if description is not None:
        segment.description = description
    added: SegmentVersion | None = None
    if rule is not None:
        current = current_version(session, segment.id)
        rule_json = rule_to_json(rule)
        if current is None or current.rule != rule_json:
            # Lock-free numbering is safe: (segment_id, version) is unique, so a concurrent
            # update fails instead of overwriting.
            segment.current_version = (current.version if current else 0) + 1
            added = SegmentVersion(
                segment_id=segment.id,
                version=segment.current_version,
                rule=rule_json,
                created_at=now,
                created_by=actor,
            )
            session.add(added)
    segment.updated_at = now
    session.add(segment)
    session.flush()
    return added


def current_version(session: Session, segment_id: int) -> SegmentVersion | None:
    """The newest version of a segment (None if the segment does not exist)."""
    return session.exec(
        select(SegmentVersion)
        .where(SegmentVersion.segment_id == segment_id)
        .order_by(col(SegmentVersion.version).desc())
    ).first()


def get_version(session: Session, segment_id: int, version: int) -> SegmentVersion | None:
    return session.exec(
        select(SegmentVersion).where(
            SegmentVersion.segment_id == segment_id, SegmentVersion.version == version
        )
    ).first()


def versions(session: Session, segment_id: int) -> list[SegmentVersion]:
    """All versions, newest first."""
    return list(
        session.exec(
            select(SegmentVersion)
            .where(SegmentVersion.segment_id == segment_id)
            .order_by(col(SegmentVersion.version).desc())
        )
    )


def visible_segments(session: Session, department_id: int | None) -> list[Segment]:
    """Segments of one department, or of all (None: an admin), by name."""
    query = select(Segment).order_by(col(Segment.department_id), col(Segment.name))
    if department_id is not None:
        query = query.where(Segment.department_id == department_id)
    return list(session.exec(query))
