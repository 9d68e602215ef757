"""Signing in to the console: personal accounts, server-side sessions, CSRF, throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from broadcaster.audit import AuditEntry
from broadcaster.broadcasts import Broadcast
from broadcaster.staff import SignInFailure, StaffAccount, set_password
from broadcaster.staff_sessions import StaffSession
from tests.clock import freeze_time
from tests.conftest import STAFF_PASSWORD, T0, make_settings
from tests.console.signing import csrf_of, sign_in

NOTICE = {"title": "健診", "category": "general", "text": "健診のお知らせ", "send_at": ""}


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _attempt(client: TestClient, login: str, password: str) -> object:
    page = client.get("/console")
    return client.post(
        "/console/login",
        data={"login": login, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def test_the_session_cookie_is_signed_http_only_and_scoped(
    app_client: TestClient, staff: dict[str, str]
) -> None:
    answer = _attempt(app_client, "kosodate", STAFF_PASSWORD)
    cookie = answer.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "bc_session=" in cookie and "HttpOnly" in cookie and "Path=/console" in cookie
    assert "SameSite=lax" in cookie and "Secure" not in cookie  # plain http in tests
    assert "." in app_client.cookies["bc_session"]  # value.signature


def test_cookies_are_secure_when_the_city_says_so(tmp_path: object, engine: Engine) -> None:
    from broadcaster.app import create_app

    settings = make_settings(tmp_path, **{"console.secure_cookies": "always"})  # type: ignore[arg-type]
    with TestClient(create_app(settings, engine=engine, background=False)) as client:
        page = client.get("/console")
        assert "Secure" in page.headers["set-cookie"]


def test_a_wrong_password_is_refused_in_japanese_and_counted(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    answer = _attempt(app_client, "kosodate", "not the password")
    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert "ログインIDまたはパスワードが正しくありません" in answer.text  # type: ignore[attr-defined]
    unknown = _attempt(app_client, "nobody", "whatever it is")
    assert "ログインIDまたはパスワードが正しくありません" in unknown.text  # type: ignore[attr-defined]
    assert _count(engine, StaffSession) == 0
    assert _count(engine, SignInFailure) == 4  # by name and by address, twice


def test_repeated_failures_lock_the_name_until_the_window_passes(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    with freeze_time(T0) as frozen:
        for _ in range(5):
            _attempt(app_client, "kosodate", "guess guess guess")
        locked = _attempt(app_client, "kosodate", STAFF_PASSWORD)
        assert locked.status_code == 422  # type: ignore[attr-defined]
        assert "15分ほど待って" in locked.text  # type: ignore[attr-defined]
        assert _count(engine, StaffSession) == 0
        frozen.tick(timedelta(minutes=16))
        assert _attempt(app_client, "kosodate", STAFF_PASSWORD).status_code == 303  # type: ignore[attr-defined]


def test_logout_ends_the_session_on_the_server(
    app_client: TestClient, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    stolen = app_client.cookies["bc_session"]
    app_client.post("/console/logout", data={"csrf_token": csrf})
    app_client.cookies.set("bc_session", stolen, path="/console")
    again = app_client.get("/console/broadcasts", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/console?next=")


def test_an_idle_session_ends(app_client: TestClient, staff: dict[str, str]) -> None:
    with freeze_time(T0) as frozen:
        sign_in(app_client, "kosodate")
        frozen.tick(timedelta(minutes=29))
        assert app_client.get("/console/broadcasts").status_code == 200
        frozen.tick(timedelta(minutes=29))  # 29 minutes after the last request: still alive
        assert app_client.get("/console/broadcasts").status_code == 200
        frozen.tick(timedelta(minutes=31))
        idle = app_client.get("/console/broadcasts", follow_redirects=False)
        assert idle.status_code == 303


def test_a_tampered_cookie_is_nobody(app_client: TestClient, staff: dict[str, str]) -> None:
    sign_in(app_client, "kosodate")
    value = app_client.cookies["bc_session"]
    app_client.cookies.clear()
    app_client.cookies.set("bc_session", value[:-2] + "xx", path="/console")
    assert app_client.get("/console/broadcasts", follow_redirects=False).status_code == 303


def test_a_post_without_the_csrf_token_changes_nothing(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    sign_in(app_client, "kosodate")
    missing = app_client.post("/console/new", data=NOTICE)
    wrong = app_client.post("/console/new", data={**NOTICE, "csrf_token": "forged"})
    for answer in (missing, wrong):
        assert answer.status_code == 403
        assert "画面の有効期限が切れました" in answer.text
    assert _count(engine, Broadcast) == 0


def test_another_sessions_token_is_refused(app_client: TestClient, staff: dict[str, str]) -> None:
    other = TestClient(app_client.app)
    theirs = sign_in(other, "kankyo")
    sign_in(app_client, "kosodate")
    assert app_client.post("/console/new", data={**NOTICE, "csrf_token": theirs}).status_code == 403


def test_the_sign_in_form_needs_its_own_token(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    forged = app_client.post(
        "/console/login", data={"login": "kosodate", "password": STAFF_PASSWORD}
    )
    assert forged.status_code == 403 and _count(engine, StaffSession) == 0


def test_the_audit_log_names_the_person(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    with freeze_time("2026-05-01T01:00:00Z"):
        app_client.post("/console/new", data={**NOTICE, "csrf_token": csrf, "draft": "true"})
    with Session(engine) as session:
        broadcast = session.exec(select(Broadcast)).one()
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action.startswith("broadcast"))
        ).first()
    assert broadcast.created_by == "子育て支援課 山田 花子"
    assert entry is not None and entry.actor == "子育て支援課 山田 花子"


def test_after_a_reset_the_person_chooses_a_new_password_first(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    with Session(engine) as session:
        account = session.exec(select(StaffAccount).where(StaffAccount.login == "kosodate")).one()
        set_password(session, account, "temporary-password-1", must_change=True)
        session.commit()
    csrf = sign_in(app_client, "kosodate", "temporary-password-1")
    blocked = app_client.get("/console/broadcasts", follow_redirects=False)
    assert blocked.headers["location"] == "/console/password"
    short = app_client.post(
        "/console/password", data={"password": "short", "confirm": "short", "csrf_token": csrf}
    )
    assert short.status_code == 422 and "12文字以上" in short.text
    assert 'aria-invalid="true"' in short.text
    chosen = app_client.post(
        "/console/password",
        data={
            "password": "my own long password",
            "confirm": "my own long password",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert chosen.status_code == 303
    assert app_client.get("/console/broadcasts").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/api/v1/x"])
def test_sign_in_returns_only_to_console_pages(
    app_client: TestClient, staff: dict[str, str], target: str
) -> None:
    page = app_client.get("/console", params={"next": target})
    answer = app_client.post(
        "/console/login",
        data={
            "login": "kosodate",
            "password": STAFF_PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": target,
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/console/home"


def test_error_pages_are_japanese_console_pages(
    app_client: TestClient, staff: dict[str, str]
) -> None:
    sign_in(app_client, "kosodate")
    missing = app_client.get("/console/no-such-page")
    assert missing.status_code == 404 and "ページが見つかりません" in missing.text
    assert "ログアウト" in missing.text  # the menu is there to go on from
    admin_only = app_client.get("/console/admin")
    assert admin_only.status_code in (403, 404)


def test_retention_forgets_old_sessions_and_failures(
    app_client: TestClient, engine: Engine, staff: dict[str, str], settings: object
) -> None:
    from broadcaster.retention import prune

    with freeze_time(T0) as frozen:
        _attempt(app_client, "kosodate", "a wrong password")
        csrf = sign_in(app_client, "kosodate")
        app_client.post("/console/logout", data={"csrf_token": csrf})
        with Session(engine) as session:
            assert prune(session, settings.retention, T0 + timedelta(days=1)).sign_ins == 0  # type: ignore[attr-defined]
            pruned = prune(session, settings.retention, T0 + timedelta(days=9))  # type: ignore[attr-defined]
            session.commit()
        frozen.tick(timedelta(days=9))
    assert pruned.sign_ins == 3  # the session, and the failure by name and by address
    assert _count(engine, StaffSession) == 0 and _count(engine, SignInFailure) == 0
