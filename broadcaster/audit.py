"""The audit log: who changed what, when, before and after.

Rows are only ever inserted; no API route updates or deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from broadcaster.db import JSONType, UTCDateTime


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    entity: str = Field(max_length=64)
    entity_id: str | None = Field(default=None, max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = None,
    department_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction, so it lands exactly when the change does."""
    entry = AuditEntry(
        at=at,
        department_id=department_id,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        before=before,
        after=after,
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class Filter:
    """What to look for in the log; None means any. `department_id` limits the entries to
    one department's (a department reads its own; an admin passes None to read all).
    `actor` matches part of the label ("山田" finds "子育て支援課 山田 花子")."""

    department_id: int | None = None
    actor: str | None = None
    action: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    since: datetime | None = None  # included
    until: datetime | None = None  # excluded


def _where(query: SelectOfScalar[Any], f: Filter) -> SelectOfScalar[Any]:
    if f.department_id is not None:
        query = query.where(AuditEntry.department_id == f.department_id)
    if f.actor:
        query = query.where(col(AuditEntry.actor).contains(f.actor, autoescape=True))
    if f.action:
        query = query.where(AuditEntry.action == f.action)
    if f.entity:
        query = query.where(AuditEntry.entity == f.entity)
    if f.entity_id is not None:
        query = query.where(AuditEntry.entity_id == f.entity_id)
    if f.since is not None:
        query = query.where(col(AuditEntry.at) >= f.since)
    if f.until is not None:
        query = query.where(col(AuditEntry.at) < f.until)
    return query


def search(session: Session, f: Filter, *, limit: int, offset: int = 0) -> list[AuditEntry]:
    """Entries matching `f`, newest first: the API's GET /audit and the console's viewer."""
    query = _where(select(AuditEntry), f).order_by(col(AuditEntry.id).desc())
    return list(session.exec(query.offset(offset).limit(limit)))


def count(session: Session, f: Filter) -> int:
    """How many entries match `f` (for the viewer's pages)."""
    query = _where(select(sa.func.count()).select_from(AuditEntry), f)
    return int(session.exec(query).one())


def actions(session: Session) -> list[str]:
    """The actions the log holds, for the viewer's choice list (few distinct values)."""
    return list(session.exec(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def entities(session: Session) -> list[str]:
    return list(session.exec(select(AuditEntry.entity).distinct().order_by(AuditEntry.entity)))
