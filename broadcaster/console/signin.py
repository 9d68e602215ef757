"""Signing in and out of the console, and choosing one's own password.

Sign-in takes a staff account's name and password (never an API token), opens a
server-side session and sets its signed cookie: HttpOnly, SameSite=Lax, scoped to
/console, Secure behind https. Logout ends the session on the server, so a copied cookie
is worthless afterwards. The sign-in form itself is protected by a double-submit token.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from broadcaster import audit
from broadcaster import staff_sessions as sessions
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.clock import utcnow
from broadcaster.console.web import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    PREFIX,
    ConsoleStaff,
    key_of,
    lifetimes,
    redirect,
    refusal,
    render,
    require_csrf,
    secure_cookies,
    throttle,
)
from broadcaster.departments import Role
from broadcaster.errors import DomainError, FieldError, Refused
from broadcaster.staff import StaffAccount, authenticate, set_password

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


def _safe_next(target: str | None) -> str:
    """Only a console path: a sign-in link must not send anyone to another site."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return PREFIX + "/home"


def _sign_in_page(
    request: Request, next_path: str, error: DomainError | None = None, login: str = ""
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        None,
        status_code=200 if error is None else 422,
        login_csrf=token,
        next_path=next_path,
        login=login,
        refusal=refusal(error) if error else None,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path=PREFIX + "/login",
        secure=secure_cookies(request, request.app.state.settings),
    )
    return response


@router.get(PREFIX, response_class=HTMLResponse)
def sign_in_page(request: Request, session: SessionDep, next: str | None = None) -> Response:
    settings = request.app.state.settings
    row = sessions.resolve(
        session,
        request.cookies.get(COOKIE),
        key_of(session, settings),
        utcnow(),
        lifetimes(settings),
    )
    session.commit()
    if row is not None:
        return redirect(_safe_next(next))
    return _sign_in_page(request, _safe_next(next))


@router.post(PREFIX + "/login", response_class=HTMLResponse)
def sign_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    login: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    now = utcnow()
    address = request.client.host if request.client else ""
    try:
        account = authenticate(session, login, password, address, now, throttle(settings))
    except Refused as exc:
        session.commit()
        return _sign_in_page(request, _safe_next(next), exc, login)
    if account is None:
        session.commit()  # the failure counts toward the throttle
        return _sign_in_page(request, _safe_next(next), Refused("staff.bad_credentials"), login)
    assert account.id is not None
    cookie = sessions.open_session(session, account.id, key_of(session, settings), now)
    session.commit()
    log.info("console sign-in: account %d", account.id)
    response = redirect(_safe_next(next))
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        path=PREFIX,
        secure=secure_cookies(request, settings),
        max_age=settings.console.session_hours * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX + "/login")
    return response


@router.post(PREFIX + "/logout")
def sign_out(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    row = sessions.resolve(
        session,
        request.cookies.get(COOKIE),
        key_of(session, settings),
        utcnow(),
        lifetimes(settings),
    )
    if row is not None:
        sessions.end(session, row, utcnow())
    session.commit()
    response = redirect(PREFIX)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get(PREFIX + "/home")
def home(staff: ConsoleStaff) -> Response:
    """Where a person starts: the desk on its orders, everyone else on the notices."""
    if staff.role == Role.disaster_desk:
        return redirect(PREFIX + "/emergency")
    return redirect(PREFIX + "/broadcasts")


@router.get(PREFIX + "/password", response_class=HTMLResponse)
def password_page(request: Request, staff: ConsoleStaff) -> Response:
    return render(request, "password.html", staff, refusal=None)


@router.post(PREFIX + "/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    session: SessionDep,
    staff: ConsoleStaff,
    password: Annotated[str, Form(max_length=256)] = "",
    confirm: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    account = session.get(StaffAccount, staff.account_id)
    assert account is not None
    try:
        if password != confirm:
            raise Refused(
                "staff.password_mismatch", errors=[FieldError("confirm", "staff.password_mismatch")]
            )
        set_password(session, account, password, must_change=False)
    except Refused as exc:
        session.rollback()
        return render(request, "password.html", staff, status_code=422, refusal=refusal(exc))
    audit.record(
        session,
        at=utcnow(),
        actor=staff.actor.label,
        action="staff.password_change",
        entity="staff_account",
        entity_id=account.id,
        department_id=account.department_id,
    )
    session.commit()
    return redirect(PREFIX + "/home")
