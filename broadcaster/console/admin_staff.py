"""`/console/admin/staff` (admins only): staff accounts, 50 a page.

An account is made, its password reset, or it is disabled only through the functions the
CLI uses (`staff.add_account`, `staff.reset_password`, `staff.set_disabled`), which audit
the change under the admin's label. A temporary password is in the page answering the
reset and nowhere else (the database keeps only its digest; the page is not cached). An
admin cannot disable their own account: another admin has to.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from broadcaster.api.deps import SessionDep
from broadcaster.clock import utcnow
from broadcaster.console.admin import NO_STORE, PAGE, PREFIX, AdminStaff, admin_page
from broadcaster.console.web import Staff, redirect, refusal, require_csrf
from broadcaster.departments import Department
from broadcaster.errors import DomainError, FieldError, Refused
from broadcaster.staff import StaffAccount, add_account, reset_password, set_disabled

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


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
    response = admin_page(
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
