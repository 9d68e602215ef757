"""Staff accounts: the people who sign in to the console, each in one department.

An account is a person (their name goes into the audit log), a sign-in name, and a
password hashed with Argon2id (argon2-cffi's defaults, re-hashed on sign-in when those
defaults move). What a person may do is their department's role: a clerk of 子育て支援課
acts as that department, a member of 危機管理課 as the disaster desk. API tokens stay for
scripts; the console never takes one.

Failed sign-ins are throttled per sign-in name and per client address: after
`sign_in_failures` failures within `sign_in_lockout_minutes`, further attempts are refused
without checking the password until the window has passed, so a guessed password costs the
guesser a quarter of an hour per handful of tries while the real user is told to wait.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Field, Session, SQLModel, col, select

from broadcaster import audit
from broadcaster.db import UTCDateTime, table_of
from broadcaster.departments import Department
from broadcaster.errors import Conflict, FieldError, Refused
from broadcaster.staff_sessions import end_all_of

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the sign-in name is unknown, so that an unknown name takes as long to
    refuse as a wrong password and names cannot be discovered by timing. Made on first
    use: hashing takes a good fraction of a second, which no command should pay at start."""
    return _hasher.hash("not a password anyone has")


class StaffAccount(SQLModel, table=True):
    __tablename__ = "staff_account"

    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    login: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=64)
    password_hash: str = Field(max_length=256)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Set by an admin's reset: the next sign-in must choose a new password.
    must_change_password: bool = False
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_sign_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SignInFailure(SQLModel, table=True):
    """One failed sign-in, under a throttling key (`login:<name>` or `address:<digest>`)."""

    __tablename__ = "sign_in_failure"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)


@dataclass(frozen=True)
class Throttle:
    failures: int = 5
    window: timedelta = timedelta(minutes=15)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _refused(code: str, field: str, **params: Any) -> Refused:
    """A refusal about one form field (the console marks that field)."""
    return Refused(code, errors=[FieldError(field, code=code, params=params)], **params)


def check_new_password(password: str, login: str) -> None:
    """Refuse a password that is too short or is the sign-in name itself."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise _refused("staff.password_too_short", "password", minimum=MIN_PASSWORD_LENGTH)
    if password.strip().casefold() == login.casefold():
        raise _refused("staff.password_is_login", "password")


def create_account(
    session: Session, department: Department, login: str, name: str, password: str, now: datetime
) -> StaffAccount:
    """A new account (flushed, not committed). Refuses a taken sign-in name."""
    login = login.strip()
    if not login or not name.strip():
        raise _refused("staff.name_required", "login" if not login else "name")
    check_new_password(password, login)
    taken = session.exec(select(StaffAccount.id).where(StaffAccount.login == login)).first()
    if taken is not None:
        raise Conflict(
            "staff.login_taken",
            errors=[FieldError("login", "staff.login_taken", {"login": login})],
            login=login,
        )
    assert department.id is not None
    account = StaffAccount(
        department_id=department.id,
        login=login,
        name=name.strip(),
        password_hash=hash_password(password),
        created_at=now,
    )
    session.add(account)
    session.flush()
    return account


def set_password(
    session: Session, account: StaffAccount, password: str, *, must_change: bool
) -> None:
    """A new password: an admin's reset (`must_change=True`) or the person's own choice."""
    check_new_password(password, account.login)
    account.password_hash = hash_password(password)
    account.must_change_password = must_change
    session.add(account)
    session.flush()


def add_account(
    session: Session,
    department: Department,
    login: str,
    name: str,
    password: str,
    actor: str,
    now: datetime,
) -> StaffAccount:
    """Create an account and audit it under `actor` (the CLI's operator or the admin's
    label); flushed, not committed. The console's admin page and `broadcaster staff add`
    both come here, so both refuse the same things and leave the same audit entry."""
    account = create_account(session, department, login, name, password, now)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="staff.create",
        entity="staff_account",
        entity_id=account.id,
        department_id=department.id,
        after={"login": account.login, "name": account.name},
    )
    return account


def reset_password(session: Session, account: StaffAccount, actor: str, now: datetime) -> str:
    """Give the account a one-time password and end its sessions (audited under `actor`).

    Returns the password: the caller shows it once, and nothing keeps it but its hash. The
    person must choose their own at the next sign-in, and whoever held a session (perhaps
    the reason for the reset) is signed out at once.
    """
    assert account.id is not None
    temporary = secrets.token_urlsafe(12)
    set_password(session, account, temporary, must_change=True)
    ended = end_all_of(session, account.id, now)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="staff.password_reset",
        entity="staff_account",
        entity_id=account.id,
        department_id=account.department_id,
        after={"sessions_ended": ended},
    )
    return temporary


def set_disabled(
    session: Session, account: StaffAccount, disabled: bool, actor: str, now: datetime
) -> bool:
    """Disable (ending its sessions) or enable an account, audited; False when it already
    was so (nothing written)."""
    assert account.id is not None
    if (account.disabled_at is not None) == disabled:
        return False
    before = {"disabled_at": account.disabled_at.isoformat() if account.disabled_at else None}
    account.disabled_at = now if disabled else None
    session.add(account)
    if disabled:
        end_all_of(session, account.id, now)
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="staff.disable" if disabled else "staff.enable",
        entity="staff_account",
        entity_id=account.id,
        department_id=account.department_id,
        before=before,
        after={"disabled_at": now.isoformat() if disabled else None},
    )
    return True


def _address_key(address: str) -> str:
    # Addresses are personal data too: the table keeps a digest, enough to count by.
    return "address:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def is_throttled(
    session: Session, login: str, address: str, now: datetime, throttle: Throttle
) -> bool:
    keys = [f"login:{login.casefold()}"[:80], _address_key(address)]
    counts = session.exec(
        select(SignInFailure.key, sa.func.count())
        .where(col(SignInFailure.key).in_(keys), SignInFailure.at > now - throttle.window)
        .group_by(SignInFailure.key)
    ).all()
    # An address gets more tries than a name: several staff may share an office's NAT.
    limits = {keys[0]: throttle.failures, keys[1]: throttle.failures * 4}
    return any(n >= limits[key] for key, n in counts)


def authenticate(
    session: Session, login: str, password: str, address: str, now: datetime, throttle: Throttle
) -> StaffAccount | None:
    """The account if `password` is right, else None (and the failure is counted).

    Raises `Refused("staff.throttled")` while the name or the address is locked out: the
    password is then not even checked, so guessing gains nothing during the lock.
    """
    login = login.strip()
    if is_throttled(session, login, address, now, throttle):
        raise Refused("staff.throttled", minutes=int(throttle.window.total_seconds() // 60))
    account = session.exec(select(StaffAccount).where(StaffAccount.login == login)).first()
    if account is None or account.disabled_at is not None:
        _verify(_dummy_hash(), password)
        account = None
    elif not _verify(account.password_hash, password):
        account = None
    if account is None:
        for key in (f"login:{login.casefold()}"[:80], _address_key(address)):
            session.add(SignInFailure(key=key, at=now))
        session.flush()
        return None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    account.last_sign_in_at = now
    session.add(account)
    session.flush()
    return account


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def prune_failures(session: Session, older_than: datetime) -> int:
    """Forget failures recorded before `older_than` (retention calls this)."""
    table = table_of(SignInFailure)
    result = session.connection().execute(sa.delete(table).where(table.c.at < older_than))
    return result.rowcount
