"""The audit log: who changed what, when, before and after.

Rows are only ever inserted; no API route updates or deletes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, Session, SQLModel

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
