"""Who is calling: a department's bearer token, its role, and what that role may touch.

A department that asks for another department's broadcast is told it does not exist (404),
so tokens cannot be used to learn what other departments plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from broadcaster.api.deps import SessionDep
from broadcaster.clock import utcnow
from broadcaster.departments import Role, find_by_token

LAST_USED_RESOLUTION = timedelta(minutes=5)
_bearer = HTTPBearer(auto_error=False, description="A department's API token (bct_…)")


@dataclass(frozen=True)
class Actor:
    department_id: int
    department_name: str
    role: Role
    token_id: int

    @property
    def label(self) -> str:
        """How the actor appears in the audit log."""
        return f"{self.department_name} (token {self.token_id})"

    def may_see(self, department_id: int) -> bool:
        return self.role == Role.admin or department_id == self.department_id


def current_actor(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = find_by_token(session, credentials.credentials)
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked API token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    department, token = found
    now = utcnow()
    # Staff want to know which tokens are still in use, not every request: a write per
    # call would queue every API request (an evacuation order too) behind SQLite's lock.
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.add(token)
        session.commit()
    assert department.id is not None and token.id is not None
    return Actor(department.id, department.name, Role(department.role), token.id)


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require(*roles: Role) -> object:
    """A dependency refusing (403) any role not listed."""

    def check(actor: CurrentActor) -> Actor:
        if actor.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {allowed}")
        return actor

    return Depends(check)


AdminActor = Annotated[Actor, require(Role.admin)]
DisasterDeskActor = Annotated[Actor, require(Role.disaster_desk, Role.admin)]
