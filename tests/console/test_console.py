from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.broadcasts import Broadcast
from broadcaster.departments import Department
from tests.clock import freeze_time
from tests.conftest import T0
from tests.console.signing import sign_in


def _broadcast(engine: Engine, department: str, title: str) -> int:
    with Session(engine) as session:
        dept = session.exec(select(Department).where(Department.name == department)).one()
        assert dept.id is not None
        row = Broadcast(
            department_id=dept.id,
            title=title,
            category="general",
            template_text="x",
            send_at=T0,
            created_at=T0,
            updated_at=T0,
        )
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def test_a_department_sees_only_its_own_broadcasts(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    own = _broadcast(engine, "子育て支援課", "乳幼児健診のお知らせ")
    other = _broadcast(engine, "環境課", "粗大ごみ受付の変更")
    sign_in(app_client, "kosodate")
    listing = app_client.get("/console/broadcasts").text
    assert "乳幼児健診のお知らせ" in listing and "粗大ごみ受付の変更" not in listing
    assert app_client.get(f"/console/broadcasts/{own}").status_code == 200
    assert app_client.get(f"/console/broadcasts/{other}").status_code == 404


def test_admin_sees_every_department(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    _broadcast(engine, "環境課", "粗大ごみ受付の変更")
    sign_in(app_client, "admin")
    assert "粗大ごみ受付の変更" in app_client.get("/console/broadcasts").text


def test_resident_counts_by_district(
    app_client: TestClient, staff: dict[str, str], cast: dict[str, object]
) -> None:
    sign_in(app_client, "admin")
    page = app_client.get("/console/residents").text
    # Three followers: below kpis.suppression_threshold, so shown as "< 20".
    assert 'id="following">&lt; 20<' in page


def _rows(engine: Engine) -> list[Broadcast]:
    with Session(engine) as session:
        return list(session.exec(select(Broadcast)).all())


NOTICE = {
    "title": "北地区 断水のお知らせ",
    "category": "general",
    "text": "{{ resident.district }}地区で5月2日に断水します。",
    "districts": ["北"],
    "send_at": "2026-05-01T15:00",
    "action": "send",  # the confirmation step's button (tests/console/test_notices.py)
}


def test_without_signing_in_every_page_and_form_leads_to_the_sign_in(
    app_client: TestClient, engine: Engine
) -> None:
    for path in ("/console/broadcasts", "/console/new", "/console/residents"):
        page = app_client.get(path, follow_redirects=False)
        assert page.status_code == 303, path
        assert page.headers["location"] == f"/console?next={path}"
    posted = app_client.post("/console/new", data=NOTICE, follow_redirects=False)
    assert posted.status_code == 303 and _rows(engine) == []


def test_a_department_queues_a_notice_from_the_console(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    form = app_client.get("/console/new").text
    assert "新しいお知らせ" in form and "北" in form and "21:00–07:00 は配信できません" in form
    with freeze_time("2026-05-01T01:00:00Z"):  # 10:00 JST
        created = app_client.post(
            "/console/new", data={**NOTICE, "csrf_token": csrf}, follow_redirects=False
        )
    assert created.status_code == 303
    [row] = _rows(engine)
    assert created.headers["location"] == f"/console/broadcasts/{row.id}"
    assert row.status == "scheduled" and row.created_by.startswith("子育て支援課")
    assert row.rule == {"all": [{"field": "district", "op": "in", "value": ["北"]}]}
    assert row.send_at.astimezone(UTC) == datetime(2026, 5, 1, 6, tzinfo=UTC)  # 15:00 JST
    page = app_client.get(created.headers["location"]).text
    assert "北地区 断水のお知らせ" in page and "予約済み" in page and "市からのお知らせ" in page


def test_a_refused_notice_is_shown_on_the_form_in_japanese_and_nothing_is_stored(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    with freeze_time("2026-05-01T01:00:00Z"):
        unknown = app_client.post(
            "/console/new",
            data={**NOTICE, "csrf_token": csrf, "text": "{{ resident.district }}の{{ shelter }}へ"},
        )
        at_night = app_client.post(
            "/console/new", data={**NOTICE, "csrf_token": csrf, "send_at": "2026-05-01T23:00"}
        )
        garbled = app_client.post(
            "/console/new", data={**NOTICE, "csrf_token": csrf, "send_at": "5月1日"}
        )
    assert unknown.status_code == 422
    assert "本文に使えない書き方があります" in unknown.text and "shelter" in unknown.text
    assert "の{{ shelter }}へ" in unknown.text  # what was typed is kept
    assert at_night.status_code == 422 and "配信しない時間帯です" in at_night.text
    assert garbled.status_code == 422 and "配信日時の形式が正しくありません" in garbled.text
    assert _rows(engine) == []


def test_a_department_cancels_its_own_scheduled_notice_only(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    own = _broadcast(engine, "子育て支援課", "乳幼児健診のお知らせ")
    other = _broadcast(engine, "環境課", "粗大ごみ受付の変更")
    csrf = sign_in(app_client, "kosodate")
    assert "この配信を取り消す" in app_client.get(f"/console/broadcasts/{own}").text
    cancelled = app_client.post(
        f"/console/broadcasts/{own}/cancel", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert cancelled.status_code == 303
    again = app_client.post(f"/console/broadcasts/{own}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "「取消（送信していません）」の配信は取り消せません" in again.text
    other_cancel = app_client.post(f"/console/broadcasts/{other}/cancel", data={"csrf_token": csrf})
    assert other_cancel.status_code == 404
    assert {b.id: b.status for b in _rows(engine)} == {own: "cancelled", other: "scheduled"}
