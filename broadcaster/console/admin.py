"""`/console/admin` (admins only): departments and their API tokens, staff accounts, and
the audit log.

Each change goes through the function the API or the CLI uses (`create_department`,
`issue_token`, `revoke_token`; `staff.add_account`, `staff.reset_password`,
`staff.set_disabled`; `audit.search` for the log) and is audited under the admin's label.
A secret (a new token, a one-time password) is in the page answering the post and nowhere
else: the database keeps only its digest, and the page is marked not to be cached.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from broadcaster import audit
from broadcaster.api.departments import DepartmentCreate
from broadcaster.api.deps import SessionDep, SettingsDep
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
from broadcaster.errors import Conflict, DomainError, FieldError, Refused
from broadcaster.settings import Settings
from broadcaster.staff import StaffAccount, add_account, reset_password, set_disabled

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


def _page(
    request: Request, name: str, staff: Staff, status_code: int = 200, **context: Any
) -> HTMLResponse:
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
    response = _page(
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


# --- staff accounts ---------------------------------------------------------------------


def _staff_page(
    request: Request,
    session: Session,
    staff: Staff,
    page: int = 1,
    status_code: int = 200,
    refused: dict[str, Any] | None = None,
    typed: dict[str, str] | None = None,
    secret: tuple[str, str] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    page = max(page, 1)
    rows = session.exec(
        select(StaffAccount, Department.name)
        .join(Department, col(Department.id) == StaffAccount.department_id)
        .order_by(col(Department.id), col(StaffAccount.login))
        .offset((page - 1) * PAGE)
        .limit(PAGE + 1)
    ).all()
    response = _page(
        request,
        "admin_staff.html",
        staff,
        status_code=status_code,
        accounts=rows[:PAGE],
        page=page,
        more=len(rows) > PAGE,
        departments=session.exec(select(Department).order_by(col(Department.id))).all(),
        refusal=refused,
        typed=typed or {"name": "", "department_id": "", "login": ""},
        secret=secret,
        done=done,
    )
    if secret:
        response.headers.update(NO_STORE)
    return response


@router.get(f"{PREFIX}/staff", response_class=HTMLResponse)
def staff_page(request: Request, session: SessionDep, staff: AdminStaff, page: int = 1) -> Response:
    return _staff_page(request, session, staff, page)


@router.post(f"{PREFIX}/staff", response_class=HTMLResponse)
def create_staff(
    request: Request,
    session: SessionDep,
    staff: AdminStaff,
    name: Annotated[str, Form(max_length=256)] = "",
    department_id: Annotated[str, Form(max_length=16)] = "",
    login: Annotated[str, Form(max_length=256)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    typed = {"name": name, "department_id": department_id, "login": login}
    try:
        department = (
            session.get(Department, int(department_id)) if department_id.isdigit() else None
        )
        if department is None:
            raise Refused(
                "console.department_required",
                errors=[FieldError("department_id", "console.department_required")],
            )
        if len(login.strip()) > 64 or len(name.strip()) > 64:
            field = "login" if len(login.strip()) > 64 else "name"
            raise Refused(
                "console.too_long",
                errors=[FieldError(field, "console.too_long", {"maximum": 64})],
                maximum=64,
            )
        account = add_account(
            session, department, login, name, password, staff.actor.label, utcnow()
        )
    except DomainError as exc:
        session.rollback()
        return _staff_page(request, session, staff, 1, 422, refusal(exc), typed)
    session.commit()
    return _staff_page(
        request,
        session,
        staff,
        status_code=201,
        done=f"{account.name}さん（ログインID {account.login}）のアカウントを作りました。",
    )


def _account(session: Session, account_id: int) -> StaffAccount:
    account = session.get(StaffAccount, account_id)
    if account is None:
        raise HTTPException(404)
    return account


@router.post(f"{PREFIX}/staff/{{account_id}}/reset", response_class=HTMLResponse)
def reset(request: Request, account_id: int, session: SessionDep, staff: AdminStaff) -> Response:
    account = _account(session, account_id)
    temporary = reset_password(session, account, staff.actor.label, utcnow())
    session.commit()
    return _staff_page(
        request,
        session,
        staff,
        secret=(f"{account.name}さん（{account.login}）の仮パスワード", temporary),
    )


@router.post(f"{PREFIX}/staff/{{account_id}}/disable", response_class=HTMLResponse)
def disable(request: Request, account_id: int, session: SessionDep, staff: AdminStaff) -> Response:
    account = _account(session, account_id)
    if account.id == staff.account_id:
        error = Refused("console.disable_self")
        return _staff_page(request, session, staff, 1, 422, refusal(error))
    set_disabled(session, account, True, staff.actor.label, utcnow())
    session.commit()
    return redirect(f"{PREFIX}/staff")


@router.post(f"{PREFIX}/staff/{{account_id}}/enable")
def enable(account_id: int, session: SessionDep, staff: AdminStaff) -> Response:
    account = _account(session, account_id)
    set_disabled(session, account, False, staff.actor.label, utcnow())
    session.commit()
    return redirect(f"{PREFIX}/staff")


# --- the audit log ----------------------------------------------------------------------


def _day(value: str, field: str, settings: Settings, *, end: bool = False) -> datetime | None:
    """A date typed in the filter as the instant its local day starts (or the next day's
    start, for the end of the range)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Refused("console.bad_date", errors=[FieldError(field, "console.bad_date")]) from None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), settings.tz).astimezone(UTC)


@router.get(f"{PREFIX}/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: AdminStaff,
    actor: str = "",
    action: str = "",
    entity: str = "",
    entity_id: str = "",
    page: int = 1,
) -> Response:
    typed = {
        "actor": actor.strip()[:128],
        "action": action[:64],
        "entity": entity[:64],
        "entity_id": entity_id.strip()[:64],
        "from": request.query_params.get("from", "")[:10],
        "to": request.query_params.get("to", "")[:10],
    }
    page = max(page, 1)
    refused = None
    entries: list[audit.AuditEntry] = []
    total = 0
    try:
        start = _day(typed["from"], "from", settings)
        end = _day(typed["to"], "to", settings, end=True)
        if start is not None and end is not None and end <= start:
            raise Refused("console.bad_range", errors=[FieldError("to", "console.bad_range")])
        f = audit.Filter(
            actor=typed["actor"] or None,
            action=typed["action"] or None,
            entity=typed["entity"] or None,
            entity_id=typed["entity_id"] or None,
            since=start,
            until=end,
        )
        entries = audit.search(session, f, limit=PAGE, offset=(page - 1) * PAGE)
        total = audit.count(session, f)
    except DomainError as exc:
        refused = refusal(exc)
    query = {k: v for k, v in typed.items() if v}
    return _page(
        request,
        "admin_audit.html",
        staff,
        status_code=422 if refused else 200,
        entries=entries,
        total=total,
        page=page,
        pages=max((total + PAGE - 1) // PAGE, 1),
        typed=typed,
        query=query,
        actions=audit.actions(session),
        entities=audit.entities(session),
        refusal=refused,
        show=_shown,
    )


def _shown(value: dict[str, Any] | None) -> str:
    """An entry's before/after as staff read it (Japanese as is, not \\u escapes)."""
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
