"""Departments and their API tokens.

A token is shown once and stored as a SHA-256 digest: a leaked database does not leak a
way in. Tokens are long random strings, so a plain digest (no salt, no slow hash) is
enough and lets a request find its token with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, Session, SQLModel, col, select

from broadcaster import audit
from broadcaster.db import UTCDateTime

TOKEN_PREFIX = "bct_"


class Role(StrEnum):
    department = "department"
    disaster_desk = "disaster_desk"
    admin = "admin"


class Department(SQLModel, table=True):
    __tablename__ = "department"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    role: str = Field(default=Role.department, max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    # The first characters, so staff can tell tokens apart when revoking one.
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, department: Department, now: datetime, *, actor: str | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `department`; returns the row and the only copy of the secret.
    With `actor` the issue is audited under that label (the API's and the console's)."""
    assert department.id is not None
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        department_id=department.id,
        token_hash=hash_token(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        created_at=now,
    )
    session.add(row)
    session.flush()
    if actor is not None:
        audit.record(
            session,
            at=now,
            actor=actor,
            action="token.issue",
            entity="api_token",
            entity_id=row.id,
            department_id=department.id,
            after={"prefix": row.prefix},
        )
    return row, secret


def create_department(
    session: Session, name: str, role: Role, now: datetime
) -> tuple[Department, str]:
    """A new department with its first token. Raises ValueError if the name is taken."""
    if session.exec(select(Department).where(Department.name == name)).first():
        raise ValueError(f"department {name!r} already exists")
    department = Department(name=name, role=role, created_at=now)
    session.add(department)
    session.flush()
    _, secret = issue_token(session, department, now)
    return department, secret


def find_by_token(session: Session, token: str) -> tuple[Department, ApiToken] | None:
    """The department a live (not revoked) token belongs to."""
    row = session.exec(
        select(ApiToken, Department)
        .join(Department, col(Department.id) == col(ApiToken.department_id))
        .where(ApiToken.token_hash == hash_token(token), col(ApiToken.revoked_at).is_(None))
    ).first()
    if row is None:
        return None
    api_token, department = row
    return department, api_token


def revoke_token(session: Session, token: ApiToken, now: datetime, *, actor: str) -> bool:
    """Revoke a token (from now on it is refused), audited under `actor`; False if it was
    already revoked (then nothing is written)."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    session.add(token)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="token.revoke",
        entity="api_token",
        entity_id=token.id,
        department_id=token.department_id,
        before={"revoked_at": None},
        after={"revoked_at": now.isoformat()},
    )
    session.flush()
    return True
