"""What every console page shares: who is signed in, CSRF, rendering, error pages.

A page's handler takes `ConsoleStaff` (the signed-in person: their `Actor` for the core's
permission checks, their name, their session's CSRF token) and answers `render(...)`.
Every console router carries `require_csrf`, so no form post is handled without the
session's token. Refusals are `DomainError`s like everywhere else; under /console they are
answered as Japanese pages instead of problem documents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from broadcaster.api.deps import SessionDep
from broadcaster.api.problems import validation_error
from broadcaster.api.refusals import as_domain_error
from broadcaster.auth import Actor
from broadcaster.catalog import detail_text
from broadcaster.clock import local, utcnow
from broadcaster.departments import Department, Role
from broadcaster.errors import DomainError, Forbidden, field_messages
from broadcaster.settings import Settings
from broadcaster.staff import StaffAccount, Throttle
from broadcaster.staff_sessions import Lifetimes, StaffSession, csrf_matches, resolve, signing_key

log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
COOKIE = "bc_session"
LOGIN_CSRF_COOKIE = "bc_login_csrf"
PREFIX = "/console"
ROLE_LABELS = {
    Role.department: "部署",
    Role.disaster_desk: "防災担当",
    Role.admin: "管理者",
}


@dataclass(frozen=True)
class Staff:
    """The person signed in to the console, and what they act as."""

    actor: Actor
    account_id: int
    name: str
    login: str
    csrf_token: str
    must_change_password: bool

    @property
    def role(self) -> Role:
        return self.actor.role


class NotSignedIn(Exception):
    """No live session: answered by a redirect to the sign-in page (then back here)."""


def lifetimes(settings: Settings) -> Lifetimes:
    return Lifetimes(
        idle=timedelta(minutes=settings.console.idle_minutes),
        lifetime=timedelta(hours=settings.console.session_hours),
    )


def throttle(settings: Settings) -> Throttle:
    return Throttle(
        failures=settings.console.sign_in_failures,
        window=timedelta(minutes=settings.console.lockout_minutes),
    )


def key_of(session: Session, settings: Settings) -> str:
    return signing_key(session, settings.console.secret_key.get_secret_value())


def secure_cookies(request: Request, settings: Settings) -> bool:
    mode = settings.console.secure_cookies
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def staff_of(session: Session, row: StaffSession) -> Staff | None:
    account = session.get(StaffAccount, row.account_id)
    if account is None or account.disabled_at is not None:
        return None
    department = session.get(Department, account.department_id)
    assert department is not None and department.id is not None and account.id is not None
    actor = Actor(
        department.id,
        department.name,
        Role(department.role),
        token_id=None,
        person=account.name,
        staff_id=account.id,
    )
    return Staff(
        actor,
        account.id,
        account.name,
        account.login,
        row.csrf_token,
        account.must_change_password,
    )


def current_staff(request: Request, session: SessionDep) -> Staff:
    """Who is signed in (their session's last request noted); NotSignedIn otherwise."""
    settings: Settings = request.app.state.settings
    now = utcnow()
    row = resolve(
        session, request.cookies.get(COOKIE), key_of(session, settings), now, lifetimes(settings)
    )
    staff = staff_of(session, row) if row is not None else None
    session.commit()  # the touch, or the ending of an idle session
    if staff is None:
        raise NotSignedIn
    request.state.staff = staff
    if staff.must_change_password and request.url.path not in (
        f"{PREFIX}/password",
        f"{PREFIX}/logout",
    ):
        raise MustChangePassword
    return staff


class MustChangePassword(Exception):
    """An admin reset this person's password: they choose their own before anything else."""


ConsoleStaff = Annotated[Staff, Depends(current_staff)]


def current_actor(staff: ConsoleStaff) -> Actor:
    return staff.actor


ConsoleActor = Annotated[Actor, Depends(current_actor)]


def requires(*roles: Role) -> Callable[[Staff], Staff]:
    """A dependency letting only these roles in (others see the 403 page)."""

    def check(staff: ConsoleStaff) -> Staff:
        if staff.role not in roles:
            raise Forbidden("console.forbidden")
        return staff

    return check


async def require_csrf(request: Request) -> None:
    """Every state-changing console request carries its session's token (form field
    `csrf_token` or header `X-CSRF-Token`); sign-in uses a double-submit cookie."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    submitted = request.headers.get("x-csrf-token")
    if submitted is None:
        form = await request.form()
        value = form.get("csrf_token")
        submitted = value if isinstance(value, str) else None
    if request.url.path == f"{PREFIX}/login":
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
        if expected and submitted and expected == submitted:
            return
        raise CsrfRefused
    engine = request.app.state.engine
    settings: Settings = request.app.state.settings
    with Session(engine) as session:
        row = resolve(
            session,
            request.cookies.get(COOKIE),
            key_of(session, settings),
            utcnow(),
            lifetimes(settings),
        )
        session.commit()
        if row is None:
            raise NotSignedIn
        if not csrf_matches(row, submitted):
            raise CsrfRefused


class CsrfRefused(Exception):
    """A post without its session's CSRF token: refused, nothing done."""


def jst(settings: Settings) -> Callable[[datetime | None], str]:
    def show(value: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        return "" if value is None else local(value, settings.tz).strftime(pattern)

    return show


def render(
    request: Request, name: str, staff: Staff | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A console page: the template with who is signed in, the nav for their role, and the
    helpers every page uses (times in the city's zone, refusals in Japanese)."""
    settings: Settings = request.app.state.settings
    response = templates.TemplateResponse(
        request,
        name,
        {
            "staff": staff,
            "actor": staff.actor if staff else None,
            "nav": navigation(staff, request.url.path, settings),
            "role_labels": ROLE_LABELS,
            "jst": jst(settings),
            "settings": settings,
            **context,
        },
        status_code=status_code,
    )
    return response


def redirect(path: str) -> RedirectResponse:
    """After a successful post: see the result with a GET (so reloading does not repost)."""
    return RedirectResponse(path, status_code=303)


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    roles: frozenset[Role]
    # A department's own page (the garbage calendar is 環境課's): other departments do not
    # see it in their menu, since it would only answer them with a 403 page.
    owner: Callable[[Settings], str] | None = None

    def shown_to(self, staff: Staff, settings: Settings) -> bool:
        if staff.role not in self.roles:
            return False
        return (
            self.owner is None
            or staff.role == Role.admin
            or staff.actor.department_name == self.owner(settings)
        )


_ALL = frozenset(Role)
_STAFF = frozenset({Role.department, Role.admin})
_DESK = frozenset({Role.disaster_desk, Role.admin})
_ADMIN = frozenset({Role.admin})
# The menu, in its order: each role sees the pages it may use. The disaster desk's own
# pages come first for it (its landing page is the first item it sees).
NAV: tuple[NavItem, ...] = (
    NavItem(f"{PREFIX}/emergency", "緊急配信", _DESK),
    NavItem(f"{PREFIX}/broadcasts", "配信一覧", _ALL),
    NavItem(f"{PREFIX}/new", "お知らせ作成", _STAFF),
    NavItem(f"{PREFIX}/calendar", "配信予定", _ALL),
    NavItem(f"{PREFIX}/garbage", "ごみ収集", _STAFF, owner=lambda s: s.garbage.department),
    NavItem(f"{PREFIX}/benefits", "給付・手当", _STAFF),
    NavItem(f"{PREFIX}/residents", "登録者", _ALL),
    NavItem(f"{PREFIX}/kpis", "指標", _ALL),
    NavItem(f"{PREFIX}/admin", "管理", _ADMIN),
)


def navigation(staff: Staff | None, path: str, settings: Settings) -> list[dict[str, Any]]:
    if staff is None:
        return []
    return [
        {"href": item.href, "label": item.label, "current": path.startswith(item.href)}
        for item in NAV
        if item.shown_to(staff, settings)
    ]


def refusal(error: Exception) -> dict[str, Any]:
    """A refusal as the console shows it: the sentence, and a Japanese message per field
    (keyed by the field's path, which is the form control's name). `error` is a
    `DomainError` or a feature refusal the API converts (`BroadcastRefused`...)."""
    found = as_domain_error(error)
    return {
        "detail": detail_text(found, "ja") if found is not None else str(error),
        "fields": field_messages(error, "ja"),
    }


# Errors answered as pages. Titles and texts are for a clerk, not a developer.
_PAGES = {
    403: ("権限がありません", "このページはご利用の役割では開けません。"),
    404: (
        "ページが見つかりません",
        "お探しのページ（または配信）は存在しないか、他の部署のものです。",
    ),
    405: ("この操作はできません", "画面のボタンから操作してください。"),
    409: ("この操作はできません", "現在の状態では実行できません。"),
    500: ("システムエラー", "処理中に問題が起きました。時間をおいてもう一度お試しください。"),
}


def error_page(request: Request, status: int, detail: str | None = None) -> HTMLResponse:
    title, default = _PAGES.get(status, (_PAGES[500][0], _PAGES[500][1]))
    return render(
        request,
        "error.html",
        _signed_in(request),
        status_code=status,
        title=title,
        detail=detail or default,
    )


def _signed_in(request: Request) -> Staff | None:
    """Who is signed in, for an error page's menu (a 404 ran no page dependency)."""
    staff: Staff | None = getattr(request.state, "staff", None)
    if staff is not None:
        return staff
    settings: Settings = request.app.state.settings
    try:
        with Session(request.app.state.engine) as session:
            row = resolve(
                session,
                request.cookies.get(COOKIE),
                key_of(session, settings),
                utcnow(),
                lifetimes(settings),
            )
            staff = staff_of(session, row) if row is not None else None
            session.commit()
    except sa.exc.SQLAlchemyError:  # the error page must not fail on the database
        return None
    return staff


Handler = Callable[[Request, Exception], Coroutine[Any, Any, Response]]


def install(app: FastAPI) -> None:
    """Answer console requests' errors as pages; the API's handlers answer the rest
    (call after `problems.install`, whose handlers this wraps)."""

    async def not_signed_in(request: Request, exc: Exception) -> Response:
        if request.method == "GET":
            return redirect(f"{PREFIX}?next={quote(request.url.path)}")
        return redirect(PREFIX)

    async def must_change(request: Request, exc: Exception) -> Response:
        return redirect(f"{PREFIX}/password")

    async def csrf(request: Request, exc: Exception) -> Response:
        return error_page(request, 403, detail_text(DomainError("console.csrf"), "ja"))

    def for_console(fallback: Handler) -> Handler:
        """`fallback` outside /console; a Japanese page inside."""

        async def handle(request: Request, exc: Exception) -> Response:
            if not request.url.path.startswith(PREFIX):
                return await fallback(request, exc)
            if isinstance(exc, RequestValidationError):
                exc = validation_error(exc.errors())
            if isinstance(exc, DomainError):
                return error_page(request, exc.kind.status, detail_text(exc, "ja"))
            if isinstance(exc, StarletteHTTPException):
                return error_page(request, exc.status_code)
            log.exception("console page failed: %s", request.url.path)
            return error_page(request, 500)

        return handle

    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.add_exception_handler(MustChangePassword, must_change)
    app.add_exception_handler(CsrfRefused, csrf)
    api_handlers = dict(app.exception_handlers)
    for kind, handler in api_handlers.items():
        if kind not in (NotSignedIn, MustChangePassword, CsrfRefused):
            app.add_exception_handler(kind, for_console(handler))  # type: ignore[arg-type]
    app.add_exception_handler(Exception, for_console(_server_error))


async def _server_error(request: Request, exc: Exception) -> Response:
    """Outside the console, an unexpected error keeps Starlette's plain 500."""
    return PlainTextResponse("Internal Server Error", status_code=500)
