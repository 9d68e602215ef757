"""Evacuation orders end to end: API -> broadcast -> outbox -> worker -> sandbox."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.departments import Department
from broadcaster.render import TEMPLATES_DIR, Renderer
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import Settings
from segments.residents import Resident, ResidentOptOut
from tests.conftest import auth
from tests.emergency.conftest import received

ORDER = {"level": 4, "districts": ["中央"], "kind": "洪水", "text": "川の水位が上がっています"}


def _locations(messages: list[dict[str, Any]]) -> list[str]:
    return [m["title"] for m in messages if m["type"] == "location"]


def test_each_resident_gets_the_open_shelters_of_their_own_district_for_that_disaster(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    make_shelter: Callable[..., Any],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    chuo = make_resident(district="中央")
    kita = make_resident(district="北")
    south = make_resident(district="南")
    make_shelter("中央小学校", "中央", kinds=("洪水", "地震"))
    make_shelter("中央公民館", "中央", kinds=("地震",))  # not for floods
    make_shelter("中央体育館", "中央", is_open=False)  # closed
    for n in range(6):
        make_shelter(f"北集会所{n}", "北")
    make_shelter("南小学校", "南")  # district not ordered
    response = client.post(
        "/api/v1/emergencies",
        headers=auth(tokens["危機管理課"]),
        json={**ORDER, "districts": ["中央", "北"]},
    )
    assert response.status_code == 201, response.text
    assert response.json()["recipients"] == 2
    deliver()
    [chuo_messages] = received(sandbox, chuo.line_user_id)
    assert chuo_messages[0]["type"] == "text"
    assert "避難指示" in chuo_messages[0]["text"]
    assert "川の水位が上がっています" in chuo_messages[0]["text"]
    assert _locations(chuo_messages) == ["中央小学校"]
    [kita_messages] = received(sandbox, kita.line_user_id)
    assert len(kita_messages) <= 5
    assert _locations(kita_messages) == [f"北集会所{n}" for n in range(4)]
    assert received(sandbox, south.line_user_id) == []


def test_english_reader_gets_english_and_unknown_language_falls_back_to_japanese(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    english = make_resident(language="en")
    other = make_resident(language="xx")
    assert (
        client.post(
            "/api/v1/emergencies", headers=auth(tokens["危機管理課"]), json=ORDER
        ).status_code
        == 201
    )
    deliver()
    [en] = received(sandbox, english.line_user_id)
    assert "Evacuation Instruction" in en[0]["text"]
    [ja] = received(sandbox, other.line_user_id)
    assert "避難指示" in ja[0]["text"]


def test_an_order_whose_template_fails_for_one_language_still_reaches_everyone(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
    tmp_path: Path,
) -> None:
    """A normal notice is refused at creation when a trial render fails; an order is
    not: the readers of the broken variant get the order as plain text."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    (templates / "evacuation.vi.j2").write_text("{{ level / 0 }}", encoding="utf-8")
    settings = client.app.state.settings
    client.app.state.renderer = Renderer(
        templates, settings.residents.languages, districts=settings.residents.districts
    )
    japanese = make_resident(language="ja")
    vietnamese = make_resident(language="vi")
    response = client.post("/api/v1/emergencies", headers=auth(tokens["危機管理課"]), json=ORDER)
    assert response.status_code == 201, response.text
    assert response.json()["recipients"] == 2
    deliver()
    [ja] = received(sandbox, japanese.line_user_id)
    assert "避難指示" in ja[0]["text"] and _locations(ja) == []
    [vi] = received(sandbox, vietnamese.line_user_id)
    fallback = "【警戒レベル4 避難指示 洪水】\n中央\n川の水位が上がっています"
    assert vi == [{"type": "text", "text": fallback}]


def test_emergency_ignores_opt_outs_but_not_blocks(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    engine: Engine,
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    opted_out = make_resident()
    blocked = make_resident(follow_state="blocked")
    with Session(engine) as session:
        session.add(ResidentOptOut(resident_id=opted_out.id, category="general"))
        session.commit()
    response = client.post("/api/v1/emergencies", headers=auth(tokens["危機管理課"]), json=ORDER)
    assert response.json()["recipients"] == 1
    deliver()
    assert len(received(sandbox, opted_out.line_user_id)) == 1
    assert received(sandbox, blocked.line_user_id) == []


def test_only_the_disaster_desk_and_admins_send(client: TestClient, tokens: dict[str, str]) -> None:
    assert (
        client.post("/api/v1/emergencies", headers=auth(tokens["環境課"]), json=ORDER).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/emergencies",
            headers=auth(tokens["情報政策課"]),
            json={**ORDER, "dry_run": True},
        ).status_code
        == 200
    )


def test_empty_or_unknown_districts_are_refused_and_nothing_is_written(
    client: TestClient, tokens: dict[str, str]
) -> None:
    for districts in ([], ["中央", "中疾"]):
        response = client.post(
            "/api/v1/emergencies",
            headers=auth(tokens["危機管理課"]),
            json={**ORDER, "districts": districts},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["path"] == "districts"
    listing = client.get("/api/v1/emergencies", headers=auth(tokens["危機管理課"])).json()
    assert listing["counts"] == {"live": 0, "drill": 0}


def test_dry_run_counts_per_district_and_language_and_sends_nothing(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    make_resident(district="中央")
    make_resident(district="中央", language="en")
    make_resident(district="北")
    response = client.post(
        "/api/v1/emergencies",
        headers=auth(tokens["危機管理課"]),
        json={**ORDER, "districts": ["中央", "北", "山間"], "dry_run": True},
    )
    body = response.json()
    assert body["total"] == 3
    assert body["districts"]["中央"]["languages"] == {"ja": 1, "en": 1}
    assert body["districts"]["山間"]["total"] == 0
    deliver()
    assert sandbox.requests() == []
    listing = client.get("/api/v1/emergencies", headers=auth(tokens["危機管理課"])).json()
    assert listing["emergencies"] == []


def test_follow_ups_reach_the_original_recipients_even_after_a_move(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    make_shelter: Callable[..., Any],
    engine: Engine,
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    mover = make_resident(district="中央")
    newcomer_id = None
    desk = auth(tokens["危機管理課"])
    emergency = client.post("/api/v1/emergencies", headers=desk, json=ORDER).json()
    deliver()
    with Session(engine) as session:
        resident = session.get(Resident, mover.id)
        assert resident is not None
        resident.district = "北"
        session.add(resident)
        session.commit()
    newcomer_id = make_resident(district="中央").line_user_id
    shelter = make_shelter("中央中学校", "中央", is_open=False)
    update = client.post(
        f"/api/v1/emergencies/{emergency['id']}/updates",
        headers=desk,
        json={"level": 5, "open_shelters": [shelter.id], "text": "中央中学校を開設しました"},
    )
    assert update.status_code == 201, update.text
    lift = client.post(f"/api/v1/emergencies/{emergency['id']}/lift", headers=desk, json={})
    assert lift.status_code == 201, lift.text
    deliver()
    _order, upgraded, lifted = sorted(
        received(sandbox, mover.line_user_id),
        key=lambda m: ("解除" in m[0]["text"], "緊急安全確保" in m[0]["text"]),
    )
    assert "緊急安全確保" in upgraded[0]["text"]
    assert "中央中学校を開設しました" in upgraded[0]["text"]
    assert "解除" in lifted[0]["text"]
    assert received(sandbox, newcomer_id) == []
    again = client.post(f"/api/v1/emergencies/{emergency['id']}/lift", headers=desk, json={})
    assert again.status_code == 409
    detail = client.get(f"/api/v1/emergencies/{emergency['id']}", headers=desk).json()
    assert [b["follow_up"] for b in detail["broadcasts"]] == [False, True, True]


def test_drills_are_marked_and_kept_apart(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    make_shelter: Callable[..., Any],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    resident = make_resident(language="en")
    make_shelter("中央小学校", "中央")
    desk = auth(tokens["危機管理課"])
    drill = client.post("/api/v1/emergencies", headers=desk, json={**ORDER, "drill": True}).json()
    client.post(f"/api/v1/emergencies/{drill['id']}/lift", headers=desk, json={})
    live = client.post("/api/v1/emergencies", headers=desk, json=ORDER).json()
    deliver()
    lists = received(sandbox, resident.line_user_id)
    drills = [m for m in lists if m[0]["text"].startswith("【訓練】")]
    [live_order] = [m for m in lists if m not in drills]
    assert len(drills) == 2
    for messages in drills:
        for message in messages:
            key = "title" if message["type"] == "location" else "text"
            assert message[key].startswith("【訓練】")
    assert "DRILL" not in live_order[0]["text"]
    default = client.get("/api/v1/emergencies", headers=desk).json()
    assert [e["id"] for e in default["emergencies"]] == [live["id"]]
    assert default["counts"] == {"live": 1, "drill": 1}
    drills = client.get("/api/v1/emergencies?drill=true", headers=desk).json()
    assert [e["id"] for e in drills["emergencies"]] == [drill["id"]]


def test_a_drill_sent_by_the_scheduler_is_marked_like_one_sent_by_the_api(
    engine: Engine, settings: Settings, cast: dict[str, Resident], tokens: dict[str, str]
) -> None:
    """Whichever path dispatches an order (the API at once, a tick that saw it due, a
    resumed dispatch), its messages are hardened the same way."""
    from datetime import UTC, datetime

    from broadcaster.batches import Batch
    from broadcaster.dispatch import dispatch_broadcast
    from broadcaster.emergency.order_requests import OrderRequest
    from broadcaster.emergency.orders import Actor, issue_order
    from broadcaster.render import Renderer

    renderer = Renderer.from_settings(settings)
    now = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)  # 23:00 JST, inside quiet hours
    with Session(engine, expire_on_commit=False) as session:
        desk = session.exec(select(Department).where(Department.name == "危機管理課")).one()
        _, broadcast = issue_order(
            session,
            Actor("危機管理課 (test)", desk.id),  # type: ignore[arg-type]
            OrderRequest(level=4, districts=["山間"], kind="土砂災害", drill=True),
            settings,
            renderer,
            now,
        )
        session.commit()
    assert dispatch_broadcast(engine, broadcast.id, settings, renderer, now)  # type: ignore[arg-type]
    with Session(engine) as session:
        [batch] = session.exec(select(Batch).where(Batch.broadcast_id == broadcast.id)).all()
    assert batch.recipients == [cast["senior"].line_user_id]
    assert all(
        str(m.get("text", m.get("title", ""))).startswith("【訓練】") for m in batch.messages
    )
