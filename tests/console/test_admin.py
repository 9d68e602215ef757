"""Job 11: /console/admin (admins only): departments and tokens, staff accounts, the audit
log. Every change is audited with the admin's label; a refusal changes nothing."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcaster import audit
from broadcaster.audit import AuditEntry
from broadcaster.departments import ApiToken, Department, find_by_token
from broadcaster.staff import StaffAccount
from broadcaster.staff_sessions import StaffSession
from tests.console.signing import sign_in

ADMIN_PAGES = ["/console/admin", "/console/admin/staff", "/console/admin/audit"]
ADMIN_LABEL = "情報政策課 高橋 美咲"


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return len(session.exec(select(model)).all())


@pytest.mark.parametrize("login", ["kosodate", "bosai"])
def test_other_roles_get_the_403_page_and_change_nothing(
    app_client: TestClient, engine: Engine, staff: dict[str, str], login: str
) -> None:
    csrf = sign_in(app_client, login)
    for path in ADMIN_PAGES:
        page = app_client.get(path)
        assert page.status_code == 403 and "権限がありません" in page.text
    before = (_count(engine, Department), _count(engine, StaffAccount), _count(engine, ApiToken))
    posts = {
        "/console/admin/departments": {"name": "福祉課", "role": "admin"},
        "/console/admin/staff": {
            "name": "侵入 太郎",
            "department_id": "1",
            "login": "intruder",
            "password": "long enough password",
        },
        "/console/admin/departments/1/tokens": {},
        "/console/admin/staff/1/reset": {},
        "/console/admin/staff/1/disable": {},
    }
    for path, data in posts.items():
        answer = app_client.post(path, data={**data, "csrf_token": csrf})
        assert answer.status_code == 403, path
    after = (_count(engine, Department), _count(engine, StaffAccount), _count(engine, ApiToken))
    assert after == before
    assert _count(engine, AuditEntry) == 0


def test_admin_creates_a_department_and_sees_its_token_once(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "admin")
    answer = app_client.post(
        "/console/admin/departments",
        data={"name": "福祉課", "role": "department", "csrf_token": csrf},
    )
    assert answer.status_code == 201
    assert answer.headers["cache-control"] == "no-store"
    secret = re.search(r'id="secret-value">(bct_[^<]+)<', answer.text)
    assert secret, answer.text
    with Session(engine) as session:
        found = find_by_token(session, secret.group(1))
        assert found is not None and found[0].name == "福祉課"
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "department.create")
        ).one()
        assert entry.actor == ADMIN_LABEL
    listing = app_client.get("/console/admin").text
    assert "福祉課" in listing and secret.group(1) not in listing


def test_a_taken_or_empty_department_name_is_refused_next_to_the_field(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "admin")
    before = _count(engine, Department)
    taken = app_client.post(
        "/console/admin/departments",
        data={"name": "環境課", "role": "department", "csrf_token": csrf},
    )
    assert taken.status_code == 422
    assert 'id="err-f-name">部署「環境課」はすでにあります。' in taken.text
    assert 'value="環境課"' in taken.text  # what was typed is shown again
    empty = app_client.post(
        "/console/admin/departments", data={"name": " ", "role": "department", "csrf_token": csrf}
    )
    assert empty.status_code == 422 and 'id="err-f-name"' in empty.text
    bad_role = app_client.post(
        "/console/admin/departments", data={"name": "福祉課", "role": "root", "csrf_token": csrf}
    )
    assert bad_role.status_code == 422 and 'id="err-f-role"' in bad_role.text
    assert _count(engine, Department) == before and _count(engine, AuditEntry) == 0


def test_admin_issues_and_revokes_a_token(
    app_client: TestClient, engine: Engine, staff: dict[str, str], tokens: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "admin")
    with Session(engine) as session:
        department = session.exec(select(Department).where(Department.name == "環境課")).one()
    issued = app_client.post(
        f"/console/admin/departments/{department.id}/tokens", data={"csrf_token": csrf}
    )
    assert issued.status_code == 201
    secret = re.search(r'id="secret-value">(bct_[^<]+)<', issued.text)
    assert secret
    with Session(engine) as session:
        token = session.exec(
            select(ApiToken)
            .where(ApiToken.department_id == department.id)
            .order_by(col(ApiToken.id).desc())
        ).first()
        assert token is not None
    revoked = app_client.post(
        f"/console/admin/departments/{department.id}/tokens/{token.id}/revoke",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    with Session(engine) as session:
        assert find_by_token(session, secret.group(1)) is None
        actions = [e.action for e in session.exec(select(AuditEntry)).all()]
    assert actions == ["token.issue", "token.revoke"]


def test_admin_creates_an_account_that_can_sign_in(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "admin")
    with Session(engine) as session:
        department = session.exec(select(Department).where(Department.name == "環境課")).one()
    created = app_client.post(
        "/console/admin/staff",
        data={
            "name": "田中 三郎",
            "department_id": str(department.id),
            "login": "tanaka",
            "password": "a long first password",
            "csrf_token": csrf,
        },
    )
    assert created.status_code == 201 and "田中 三郎さん" in created.text
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "staff.create")).one()
        assert entry.actor == ADMIN_LABEL and entry.after == {
            "login": "tanaka",
            "name": "田中 三郎",
        }
    app_client.cookies.clear()
    sign_in(app_client, "tanaka", "a long first password")
    assert "田中 三郎" in app_client.get("/console/broadcasts").text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"password": "short"}, "password", "パスワードは12文字以上にしてください。"),
        ({"login": "kosodate"}, "login", "ログインID「kosodate」はすでに使われています。"),
        ({"department_id": ""}, "department_id", "部署を選んでください。"),
        ({"department_id": "999"}, "department_id", "部署を選んでください。"),
        ({"name": ""}, "name", "ログインIDと氏名を入力してください。"),
        ({"login": "x" * 65}, "login", "64文字以内で入力してください。"),
    ],
)
def test_a_refused_account_is_shown_again_in_japanese_and_nothing_is_written(
    app_client: TestClient,
    engine: Engine,
    staff: dict[str, str],
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    csrf = sign_in(app_client, "admin")
    before = _count(engine, StaffAccount)
    data = {
        "name": "田中 三郎",
        "department_id": "2",
        "login": "tanaka",
        "password": "a long first password",
        **changes,
        "csrf_token": csrf,
    }
    answer = app_client.post("/console/admin/staff", data=data)
    assert answer.status_code == 422
    assert f'<p class="field-error" id="err-f-{field}">{message}</p>' in answer.text
    assert f'id="f-{field}"' in answer.text and 'aria-invalid="true"' in answer.text
    if field == "name":
        assert 'value="tanaka"' in answer.text
    assert _count(engine, StaffAccount) == before and _count(engine, AuditEntry) == 0


def test_reset_shows_a_one_time_password_ends_sessions_and_forces_a_change(
    app_client: TestClient, engine: Engine, staff: dict[str, str], settings: object
) -> None:
    from fastapi.testclient import TestClient as Client

    other = Client(app_client.app)
    sign_in(other, "kosodate")
    assert other.get("/console/broadcasts").status_code == 200
    csrf = sign_in(app_client, "admin")
    with Session(engine) as session:
        account = session.exec(select(StaffAccount).where(StaffAccount.login == "kosodate")).one()
    answer = app_client.post(f"/console/admin/staff/{account.id}/reset", data={"csrf_token": csrf})
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    temporary = re.search(r'id="secret-value">([^<]+)<', answer.text)
    assert temporary
    # The person's open session has ended.
    assert (
        "/console?next="
        in other.get("/console/broadcasts", follow_redirects=False).headers["location"]
    )
    with Session(engine) as session:
        live = session.exec(
            select(StaffSession).where(
                StaffSession.account_id == account.id, col(StaffSession.ended_at).is_(None)
            )
        ).all()
        assert live == []
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "staff.password_reset")
        ).one()
        assert entry.actor == ADMIN_LABEL
    # The one-time password signs in, then must be replaced before anything else.
    fresh = Client(app_client.app)
    sign_in_page = fresh.get("/console")
    from tests.console.signing import csrf_of

    fresh.post(
        "/console/login",
        data={
            "login": "kosodate",
            "password": temporary.group(1),
            "csrf_token": csrf_of(sign_in_page.text),
        },
    )
    assert fresh.get("/console/broadcasts", follow_redirects=False).headers["location"] == (
        "/console/password"
    )


def test_disable_ends_sessions_and_refuses_sign_in_enable_restores(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "admin")
    with Session(engine) as session:
        account = session.exec(select(StaffAccount).where(StaffAccount.login == "kankyo")).one()
        me = session.exec(select(StaffAccount).where(StaffAccount.login == "admin")).one()
    app_client.post(f"/console/admin/staff/{account.id}/disable", data={"csrf_token": csrf})
    with Session(engine) as session:
        assert session.get(StaffAccount, account.id).disabled_at is not None  # type: ignore[union-attr]
    refused = app_client.post(f"/console/admin/staff/{me.id}/disable", data={"csrf_token": csrf})
    assert refused.status_code == 422 and "ご自身のアカウントは無効にできません" in refused.text
    app_client.post(f"/console/admin/staff/{account.id}/enable", data={"csrf_token": csrf})
    with Session(engine) as session:
        assert session.get(StaffAccount, account.id).disabled_at is None  # type: ignore[union-attr]
        actions = [e.action for e in session.exec(select(AuditEntry)).all()]
    assert actions == ["staff.disable", "staff.enable"]


def test_the_audit_log_filters_and_pages_fifty_at_a_time(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    from datetime import timedelta

    from tests.conftest import T0

    with Session(engine) as session:
        for i in range(120):
            audit.record(
                session,
                at=T0 + timedelta(hours=i),
                actor="子育て支援課 山田 花子" if i % 2 else "環境課 佐藤 一郎",
                action="broadcast.create" if i % 3 else "broadcast.cancel",
                entity="broadcast",
                entity_id=i,
            )
        session.commit()
    sign_in(app_client, "admin")
    everything = app_client.get("/console/admin/audit").text
    assert "120件" in everything and everything.count("<code>broadcast.") == 50
    second = app_client.get("/console/admin/audit?page=3").text
    assert second.count("<code>broadcast.") == 20
    by_actor = app_client.get("/console/admin/audit", params={"actor": "山田"}).text
    assert "60件" in by_actor and "佐藤" not in by_actor.split("<table")[1]
    by_action = app_client.get("/console/admin/audit", params={"action": "broadcast.cancel"}).text
    assert "40件" in by_action
    day = (T0 + timedelta(hours=30)).astimezone().date().isoformat()
    one_day = app_client.get("/console/admin/audit", params={"from": day, "to": day})
    assert one_day.status_code == 200 and "24件" in one_day.text
    backwards = app_client.get(
        "/console/admin/audit", params={"from": "2026-05-02", "to": "2026-05-01"}
    )
    assert backwards.status_code == 422
    assert 'id="err-f-to">終了日は開始日と同じか' in backwards.text
    bad = app_client.get("/console/admin/audit", params={"from": "5月1日"})
    assert bad.status_code == 422 and 'id="err-f-from"' in bad.text


def test_the_api_audit_query_still_answers(
    app_client: TestClient, engine: Engine, tokens: dict[str, str]
) -> None:
    from tests.conftest import auth

    app_client.post(
        "/api/v1/departments", headers=auth(tokens["情報政策課"]), json={"name": "福祉課"}
    )
    rows = app_client.get("/api/v1/audit", headers=auth(tokens["情報政策課"])).json()
    assert [r["action"] for r in rows] == ["department.create"]
    assert app_client.get("/api/v1/audit", headers=auth(tokens["環境課"])).json() == []
