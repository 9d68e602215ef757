"""Staff sessions of the console: kept on the server, named by a signed cookie, ended by logout.

The cookie carries a random 256-bit session id signed with the service's key
(itsdangerous), so a forged or truncated cookie is refused before any lookup. The table
keeps only the id's SHA-256 digest: a copy of the database is no way in. A session ends
when its person logs out, after `idle` without a request, or `lifetime` after sign-in,
whichever comes first; an admin disabling an account ends all of that person's sessions.

Each session has its own CSRF token, which every form posts back (see `console.web.require_csrf`):
SameSite=Lax keeps other sites' posts from carrying the cookie in today's browsers, the
token keeps them out in the others.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from itsdangerous import BadSignature, Signer
from sqlmodel import Field, Session, SQLModel

from broadcaster.clock import as_utc
from broadcaster.db import UTCDateTime, table_of

# How often a session's last request is written down: idle timeouts are minutes long, so
# one write a minute per person is exact enough and keeps page views read-only.
TOUCH_RESOLUTION = timedelta(minutes=1)


class StaffSession(SQLModel, table=True):
    __tablename__ = "staff_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    account_id: int = Field(foreign_key="staff_account.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SigningKey(SQLModel, table=True):
    """The key cookies are signed with, made once per database so every replica shares it."""

    __tablename__ = "console_signing_key"

    id: int = Field(default=1, primary_key=True)
    key: str = Field(max_length=128)


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=12)


def signing_key(session: Session, configured: str) -> str:
    """The configured key, or the database's own (created on first use)."""
    if configured:
        return configured
    row = session.get(SigningKey, 1)
    if row is None:
        table = table_of(SigningKey)
        key = secrets.token_urlsafe(48)
        # Two replicas starting at once: whichever inserts first wins, the other reads it.
        try:
            with session.begin_nested():
                session.execute(sa.insert(table).values(id=1, key=key))
        except sa.exc.IntegrityError:
            pass
        row = session.get(SigningKey, 1)
        assert row is not None
    return row.key


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(session: Session, account_id: int, key: str, now: datetime) -> str:
    """A new session for the account; returns the cookie value (shown to nobody else)."""
    session_id = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            id_hash=_digest(session_id),
            account_id=account_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()
    return Signer(key, salt="console-session").sign(session_id).decode()


def resolve(
    session: Session, cookie: str | None, key: str, now: datetime, lifetimes: Lifetimes
) -> StaffSession | None:
    """The live session the cookie names (its last request noted), or None."""
    if not cookie:
        return None
    try:
        session_id = Signer(key, salt="console-session").unsign(cookie).decode()
    except BadSignature:
        return None
    row = session.get(StaffSession, _digest(session_id))
    if row is None or row.ended_at is not None:
        return None
    if (
        now - as_utc(row.last_seen_at) > lifetimes.idle
        or now - as_utc(row.created_at) > lifetimes.lifetime
    ):
        end(session, row, now)
        return None
    if now - as_utc(row.last_seen_at) >= TOUCH_RESOLUTION:
        row.last_seen_at = now
        session.add(row)
        session.flush()
    return row


def end(session: Session, row: StaffSession, now: datetime) -> None:
    row.ended_at = now
    session.add(row)
    session.flush()


def end_all_of(session: Session, account_id: int, now: datetime) -> int:
    """End every live session of an account (disabled, or its password reset)."""
    table = table_of(StaffSession)
    result = session.connection().execute(
        sa.update(table)
        .where(table.c.account_id == account_id, table.c.ended_at.is_(None))
        .values(ended_at=now)
    )
    return result.rowcount


def csrf_matches(row: StaffSession, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(row.csrf_token, submitted or "")


def prune(session: Session, older_than: datetime) -> int:
    """Delete sessions ended, or last used, before `older_than` (retention calls this)."""
    table = table_of(StaffSession)
    result = session.connection().execute(
        sa.delete(table).where(
            sa.or_(table.c.ended_at < older_than, table.c.last_seen_at < older_than)
        )
    )
    return result.rowcount
