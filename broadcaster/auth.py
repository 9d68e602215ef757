"""Who is calling: a department's bearer token, its role, and what that role may touch.

A department that asks for another department's broadcast is told it does not exist (404),
so tokens cannot be used to learn what other departments plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from broadcaster.api.deps import SessionDep
from broadcaster.clock import utcnow
from broadcaster.db import table_of
from broadcaster.departments import ApiToken, Role, find_by_token
from broadcaster.errors import Forbidden, Unauthenticated

LAST_USED_RESOLUTION = timedelta(minutes=5)
_bearer = HTTPBearer(auto_error=False, description="A department's API token (bct_…)")


@dataclass(frozen=True)
class Actor:
    """Who is acting: a department, through a script's token or a signed-in person."""

    department_id: int
    department_name: str
    role: Role
    token_id: int | None
    person: str | None = None  # a staff account's name (console)
    staff_id: int | None = None

    @property
    def label(self) -> str:
        """How the actor appears in the audit log: the person when there is one."""
        if self.person:
            return f"{self.department_name} {self.person}"[:128]
        return f"{self.department_name} (token {self.token_id})"

    def may_see(self, department_id: int) -> bool:
        return self.role == Role.admin or department_id == self.department_id


def current_actor(
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None:
        raise Unauthenticated("auth.missing_token", headers={"WWW-Authenticate": "Bearer"})
    found = find_by_token(session, credentials.credentials)
    if found is None:
        raise Unauthenticated("auth.unknown_token", headers={"WWW-Authenticate": "Bearer"})
    department, token = found
    now = utcnow()
    assert department.id is not None and token.id is not None
    # Staff want to know which tokens are still in use, not every request; and it is
    # written after the answer, so no request (an evacuation order least of all) waits
    # for SQLite's write lock to record it.
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        background.add_task(_record_use, request.app.state.engine, token.id, now)
    return Actor(department.id, department.name, Role(department.role), token.id)


def _record_use(engine: Engine, token_id: int, now: datetime) -> None:
    table = table_of(ApiToken)
    with engine.begin() as connection:
        connection.execute(sa.update(table).where(table.c.id == token_id).values(last_used_at=now))


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require(*roles: Role) -> object:
    """A dependency refusing (403) any role not listed."""

    def check(actor: CurrentActor) -> Actor:
        if actor.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise Forbidden("auth.role_required", roles=allowed)
        return actor

    return Depends(check)


AdminActor = Annotated[Actor, require(Role.admin)]
DisasterDeskActor = Annotated[Actor, require(Role.disaster_desk, Role.admin)]
