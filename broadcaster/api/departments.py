"""`/api/v1/departments` (admin): departments and their API tokens; `/api/v1/audit` (read).

A token's secret is in the response that creates it and nowhere else: the database keeps
only its digest. Revoking is the only way a token ends; tokens are never deleted, so the
audit log's "token N" always points at a row. The audit log is read-only over HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status
from pydantic import BaseModel, Field
from sqlmodel import col, select

from broadcaster import audit
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.auth import AdminActor, CurrentActor
from broadcaster.clock import utcnow
from broadcaster.departments import (
    ApiToken,
    Department,
    Role,
    create_department,
    issue_token,
    revoke_token,
)
from broadcaster.errors import Conflict, not_found
from broadcaster.inputs import CityDateTime, Id
from broadcaster.settings import Settings
from broadcaster.timestamps import CityTimestamp, city_json

router = APIRouter(tags=["departments"])


class DepartmentCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    role: Role = Role.department


class TokenPublic(BaseModel):
    id: int
    prefix: str = Field(description="the token's first characters, to tell tokens apart")
    created_at: CityTimestamp
    revoked_at: CityTimestamp | None
    last_used_at: CityTimestamp | None


class DepartmentPublic(BaseModel):
    id: int
    name: str
    role: Role
    created_at: CityTimestamp
    tokens: list[TokenPublic]


class IssuedToken(BaseModel):
    department_id: Id
    token_id: Id
    token: str = Field(description="the secret, shown this once; only its digest is stored")


class DepartmentCreated(DepartmentPublic):
    token: str = Field(description="the first API token, shown this once")


class AuditPublic(BaseModel):
    id: int
    at: CityTimestamp
    department_id: int | None
    actor: str
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _tokyo(value: datetime | None, settings: Settings) -> datetime | None:
    return None if value is None else value.astimezone(settings.tz)


def _token_public(token: ApiToken, settings: Settings) -> TokenPublic:
    assert token.id is not None
    return TokenPublic(
        id=token.id,
        prefix=token.prefix,
        created_at=token.created_at.astimezone(settings.tz),
        revoked_at=_tokyo(token.revoked_at, settings),
        last_used_at=_tokyo(token.last_used_at, settings),
    )


def _department_public(
    session: SessionDep, department: Department, settings: Settings
) -> DepartmentPublic:
    assert department.id is not None
    tokens = session.exec(
        select(ApiToken).where(ApiToken.department_id == department.id).order_by(col(ApiToken.id))
    ).all()
    return DepartmentPublic(
        id=department.id,
        name=department.name,
        role=Role(department.role),
        created_at=department.created_at.astimezone(settings.tz),
        tokens=[_token_public(token, settings) for token in tokens],
    )


def _department(session: SessionDep, department_id: Id) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise not_found("department", department_id)
    return department


@router.get("/departments", summary="List departments and their tokens (admin)")
def list_departments(
    actor: AdminActor, session: SessionDep, settings: SettingsDep
) -> list[DepartmentPublic]:
    departments = session.exec(select(Department).order_by(col(Department.id))).all()
    return [_department_public(session, d, settings) for d in departments]


@router.post(
    "/departments", status_code=status.HTTP_201_CREATED, summary="Create a department (admin)"
)
def create(
    body: Annotated[
        DepartmentCreate,
        Body(
            openapi_examples={
                "department": {"summary": "A department", "value": {"name": "福祉課"}},
                "disaster": {
                    "summary": "May send emergencies",
                    "value": {"name": "防災対策室", "role": "disaster_desk"},
                },
            }
        ),
    ],
    actor: AdminActor,
    session: SessionDep,
    settings: SettingsDep,
) -> DepartmentCreated:
    """Returns the department's first API token; it is never shown again."""
    now = utcnow()
    try:
        department, secret = create_department(session, body.name, body.role, now)
    except ValueError as exc:  # the name is taken
        raise Conflict("department.exists", str(exc), name=body.name) from None
    audit.record(
        session,
        at=now,
        actor=actor.label,
        action="department.create",
        entity="department",
        entity_id=department.id,
        department_id=actor.department_id,
        after={"name": department.name, "role": department.role},
    )
    session.commit()
    shown = _department_public(session, department, settings)
    return DepartmentCreated(**shown.model_dump(), token=secret)


@router.post(
    "/departments/{department_id}/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="Issue another token (admin)",
)
def issue(department_id: Id, actor: AdminActor, session: SessionDep) -> IssuedToken:
    """For rotation: issue the new token, switch clients over, then revoke the old one."""
    department = _department(session, department_id)
    now = utcnow()
    token, secret = issue_token(session, department, now, actor=actor.label)
    session.commit()
    assert token.id is not None
    return IssuedToken(department_id=department_id, token_id=token.id, token=secret)


@router.post(
    "/departments/{department_id}/tokens/{token_id}/revoke", summary="Revoke a token (admin)"
)
def revoke(
    department_id: Id,
    token_id: Id,
    actor: AdminActor,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPublic:
    token = session.get(ApiToken, token_id)
    if token is None or token.department_id != department_id:
        raise not_found("token", token_id)
    now = utcnow()
    revoke_token(session, token, now, actor=actor.label)
    session.commit()
    return _token_public(token, settings)


@router.get("/audit", summary="The audit log (read-only)")
def audit_log(
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    entity: str | None = None,
    entity_id: str | None = None,
    since: Annotated[CityDateTime | None, Query(description="Asia/Tokyo when no offset")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditPublic]:
    """Newest first. A department sees the entries about its own department; an admin all."""
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=settings.tz)
    found = audit.search(
        session,
        audit.Filter(
            department_id=None if actor.role == Role.admin else actor.department_id,
            entity=entity,
            entity_id=entity_id,
            since=since,
        ),
        limit=limit,
    )
    return [
        AuditPublic(
            **{
                **entry.model_dump(),
                "before": city_json(entry.before),
                "after": city_json(entry.after),
            }
        )
        for entry in found
    ]
