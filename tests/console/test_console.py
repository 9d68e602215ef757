from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.broadcasts import Broadcast
from broadcaster.departments import Department
from tests.conftest import T0


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


def _login(client: TestClient, token: str) -> None:
    response = client.post("/console/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303


def test_console_asks_for_a_token_in_japanese(app_client: TestClient) -> None:
    page = app_client.get("/console")
    assert "APIトークン" in page.text
    wrong = app_client.post("/console/login", data={"token": "bct_nope"})
    assert "トークンが正しくないか" in wrong.text


def test_a_department_sees_only_its_own_broadcasts(
    app_client: TestClient, engine: Engine, tokens: dict[str, str]
) -> None:
    own = _broadcast(engine, "子育て支援課", "乳幼児健診のお知らせ")
    other = _broadcast(engine, "環境課", "粗大ごみ受付の変更")
    _login(app_client, tokens["子育て支援課"])
    listing = app_client.get("/console/broadcasts").text
    assert "乳幼児健診のお知らせ" in listing and "粗大ごみ受付の変更" not in listing
    assert app_client.get(f"/console/broadcasts/{own}").status_code == 200
    assert app_client.get(f"/console/broadcasts/{other}").status_code == 404


def test_admin_sees_every_department(
    app_client: TestClient, engine: Engine, tokens: dict[str, str]
) -> None:
    _broadcast(engine, "環境課", "粗大ごみ受付の変更")
    _login(app_client, tokens["情報政策課"])
    assert "粗大ごみ受付の変更" in app_client.get("/console/broadcasts").text


def test_resident_counts_by_district(
    app_client: TestClient, tokens: dict[str, str], cast: dict[str, object]
) -> None:
    _login(app_client, tokens["情報政策課"])
    page = app_client.get("/console/residents").text
    assert "友だち登録中 3 人" in page
