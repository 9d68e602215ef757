"""`/console/admin` (admins only): the admin section's frame (its tabs, who may open it)
and its first tab, departments and their API tokens.

The other tabs are their own modules, `admin_staff` (staff accounts) and `admin_audit`
(the audit log), each with its router. Each change goes through the function the API or
the CLI uses (`create_department`, `issue_token`, `revoke_token` here) and is audited
under the admin's label. A secret (a new token, a one-time password) is in the page
answering the post and nowhere else: the database keeps only its digest, and the page is
marked not to be cached (`NO_STORE`).
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from broadcaster import audit
from broadcaster.api.departments import DepartmentCreate
from broadcaster.api.deps import SessionDep
from broadcaster.api.problems import validation_error
from broadcaster.clock import utcnow
from broadcaster.console.web import (
    ROLE_LABELS,
    Staff,
    redirect,
    refusal,
    render,
    require_csrf,
    requires,
)
from broadcaster.departments import (
    ApiToken,
    Department,
    Role,
    create_department,
    issue_token,
    revoke_token,
)
from broadcaster.errors import Conflict, DomainError, FieldError
from broadcaster.staff import StaffAccount

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
AdminStaff = Annotated[Staff, Depends(requires(Role.admin))]
PREFIX = "/console/admin"
PAGE = 50
TABS = (
    (PREFIX, "部署とAPIトークン"),
    (f"{PREFIX}/staff", "職員アカウント"),
    (f"{PREFIX}/audit", "操作記録"),
)
NO_STORE = {"Cache-Control": "no-store"}


def admin_page(
    request: Request, name: str, staff: Staff, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page of the admin section: its template, with the tabs and the current one."""
    return render(
        request,
        name,
        staff,
        status_code=status_code,
        tabs=TABS,
        here=request.url.path,
        role_labels=ROLE_LABELS,
        **context,
    )


# --- departments and tokens -------------------------------------------------------------


def _departments(session: Session) -> list[tuple[Department, list[ApiToken], int]]:
    departments = session.exec(select(Department).order_by(col(Department.id))).all()
    tokens: dict[int, list[ApiToken]] = {}
    for token in session.exec(select(ApiToken).order_by(col(ApiToken.id))).all():
        tokens.setdefault(token.department_id, []).append(token)
    people: dict[int, int] = {
        department_id: int(n)
        for department_id, n in session.exec(
            select(StaffAccount.department_id, sa.func.count()).group_by(
                col(StaffAccount.department_id)
            )
        ).all()
    }
    return [(d, tokens.get(d.id or 0, []), people.get(d.id or 0, 0)) for d in departments]


def _departments_page(
    request: Request,
    session: Session,
    staff: Staff,
    status_code: int = 200,
    refused: dict[str, Any] | None = None,
    typed: dict[str, str] | None = None,
    secret: tuple[str, str] | None = None,
) -> HTMLResponse:
    response = admin_page(
        request,
        "admin_departments.html",
        staff,
        status_code=status_code,
        departments=_departments(session),
        refusal=refused,
        typed=typed or {"name": "", "role": Role.department},
        secret=secret,
    )
    if secret:
        response.headers.update(NO_STORE)
    return response


@router.get(PREFIX, response_class=HTMLResponse)
def departments_page(request: Request, session: SessionDep, staff: AdminStaff) -> Response:
    return _departments_page(request, session, staff)


@router.post(f"{PREFIX}/departments", response_class=HTMLResponse)
def create(
    request: Request,
    session: SessionDep,
    staff: AdminStaff,
    name: Annotated[str, Form(max_length=512)] = "",
    role: Annotated[str, Form(max_length=32)] = Role.department,
) -> Response:
    typed = {"name": name, "role": role}
    now = utcnow()
    try:
        try:
            body = DepartmentCreate(name=name.strip(), role=role)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise validation_error(exc.errors()) from None
        try:
            department, secret = create_department(session, body.name, body.role, now)
        except ValueError:  # the name is taken
            raise Conflict(
                "department.exists",
                errors=[FieldError("name", "department.exists", {"name": body.name})],
                name=body.name,
            ) from None
    except DomainError as exc:
        session.rollback()
        return _departments_page(request, session, staff, 422, refusal(exc), typed)
    audit.record(
        session,
        at=now,
        actor=staff.actor.label,
        action="department.create",
        entity="department",
        entity_id=department.id,
        department_id=staff.actor.department_id,
        after={"name": department.name, "role": department.role},
    )
    session.commit()
    return _departments_page(
        request, session, staff, 201, secret=(f"{department.name}の最初のAPIトークン", secret)
    )


def _department(session: Session, department_id: int) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise HTTPException(404)
    return department


@router.post(f"{PREFIX}/departments/{{department_id}}/tokens", response_class=HTMLResponse)
def issue(request: Request, department_id: int, session: SessionDep, staff: AdminStaff) -> Response:
    department = _department(session, department_id)
    now = utcnow()
    _, secret = issue_token(session, department, now, actor=staff.actor.label)
    session.commit()
    return _departments_page(
        request, session, staff, 201, secret=(f"{department.name}の新しいAPIトークン", secret)
    )


@router.post(f"{PREFIX}/departments/{{department_id}}/tokens/{{token_id}}/revoke")
def revoke(department_id: int, token_id: int, session: SessionDep, staff: AdminStaff) -> Response:
    token = session.get(ApiToken, token_id)
    if token is None or token.department_id != department_id:
        raise HTTPException(404)
    now = utcnow()
    revoke_token(session, token, now, actor=staff.actor.label)
    session.commit()
    return redirect(PREFIX)
