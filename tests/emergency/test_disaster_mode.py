"""Disaster mode: an active order of level 3+ holds routine notices to its districts,
the desk can turn that off per order, and after the lift they are releasable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.clock import utcnow
from broadcaster.departments import Department
from broadcaster.emergency.disaster_mode import (
    hold_for,
    must_hold,
    releasable,
    release_held,
    rule_districts,
    rule_without,
)
from broadcaster.emergency.models import Emergency
from broadcaster.render import Renderer
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.schedule import dispatch_due
from broadcaster.settings import Settings
from segments.residents import Resident
from tests.conftest import T0, auth
from tests.emergency.conftest import received

DISTRICTS = ["中央", "北", "南", "東", "西", "山間"]
ORDER = {"level": 3, "districts": ["北"], "kind": "洪水"}


def _routine(engine: Engine, rule: dict[str, Any], **fields: Any) -> Broadcast:
    with Session(engine, expire_on_commit=False) as session:
        department = session.exec(select(Department).where(Department.name == "環境課")).one()
        assert department.id is not None
        broadcast = Broadcast(
            department_id=department.id,
            title="消費生活のお知らせ",
            category="general",
            template_text="今月の消費生活情報です。",
            rule=rule,
            send_at=utcnow() + timedelta(hours=1),
            created_at=utcnow(),
            updated_at=utcnow(),
            **fields,
        )
        session.add(broadcast)
        session.commit()
        return broadcast


def _order(client: TestClient, token: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/emergencies", headers=auth(token), json={**ORDER, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_an_order_holds_a_notice_to_its_district_until_the_lift(
    client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    desk = tokens["危機管理課"]
    tip = _routine(engine, {"field": "district", "op": "in", "value": ["北", "南"]})
    elsewhere = _routine(engine, {"field": "district", "op": "eq", "value": "山間"})
    city_wide = _routine(engine, {})
    emergency = _order(client, desk)
    with Session(engine) as session:
        hold = must_hold(session, tip, DISTRICTS, utcnow())
        assert hold is not None and hold.districts == ("北",) and not hold.whole
        assert hold.emergency_ids == (emergency["id"],)
        assert "北地区に警戒レベル3 高齢者等避難（洪水）が発令中" in hold.reason
        assert must_hold(session, elsewhere, DISTRICTS, utcnow()) is None
        assert must_hold(session, city_wide, DISTRICTS, utcnow()) is not None
        assert releasable(session, [tip, city_wide], DISTRICTS, utcnow()) == []
    lifted = client.post(f"/api/v1/emergencies/{emergency['id']}/lift", headers=auth(desk))
    assert lifted.status_code == 201, lifted.text
    with Session(engine) as session:
        assert must_hold(session, tip, DISTRICTS, utcnow()) is None
        ready = releasable(session, [tip, city_wide], DISTRICTS, utcnow())
        assert [b.id for b in ready] == [tip.id, city_wide.id]


def test_the_desk_can_turn_the_hold_off_for_one_order(
    client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    desk = tokens["危機管理課"]
    tip = _routine(engine, {"field": "district", "op": "eq", "value": "北"})
    emergency = _order(client, desk)
    assert emergency["hold_routine"] is True
    response = client.post(
        f"/api/v1/emergencies/{emergency['id']}/routine-hold",
        headers=auth(desk),
        json={"hold": False},
    )
    assert response.status_code == 200 and response.json()["hold_routine"] is False
    assert (
        client.post(
            f"/api/v1/emergencies/{emergency['id']}/routine-hold",
            headers=auth(tokens["環境課"]),
            json={"hold": True},
        ).status_code
        == 403
    )
    with Session(engine) as session:
        assert must_hold(session, tip, DISTRICTS, utcnow()) is None
        assert [b.id for b in releasable(session, [tip], DISTRICTS, utcnow())] == [tip.id]


def test_drills_and_level_below_3_hold_nothing_and_emergencies_are_never_held(
    client: TestClient,
    tokens: dict[str, str],
    engine: Engine,
) -> None:
    desk = tokens["危機管理課"]
    tip = _routine(engine, {"field": "district", "op": "eq", "value": "北"})
    _order(client, desk, drill=True)
    with Session(engine) as session:
        assert must_hold(session, tip, DISTRICTS, utcnow()) is None
    order = _order(client, desk, level=4)
    with Session(engine) as session:
        own = session.get(Emergency, order["id"])
        assert own is not None and own.broadcast_id is not None
        broadcast = session.get(Broadcast, own.broadcast_id)
        assert broadcast is not None
        assert must_hold(session, broadcast, DISTRICTS, utcnow()) is None
        assert must_hold(session, tip, DISTRICTS, utcnow()) is not None


def test_a_notice_its_owner_cancelled_is_not_released(
    client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    tip = _routine(
        engine, {"field": "district", "op": "eq", "value": "北"}, status=BroadcastStatus.cancelled
    )
    with Session(engine) as session:
        assert releasable(session, [tip], DISTRICTS, utcnow()) == []


def test_rule_reach_is_read_from_the_rule() -> None:
    north = {"field": "district", "op": "in", "value": ["北", "南"]}
    assert rule_districts(north, DISTRICTS) == {"北", "南"}
    both = {"all": [north, {"field": "district", "op": "eq", "value": "北"}]}
    assert rule_districts(both, DISTRICTS) == {"北"}
    either = {"any": [north, {"field": "district", "op": "eq", "value": "東"}]}
    assert rule_districts(either, DISTRICTS) == {"北", "南", "東"}
    assert rule_districts({"not": north}, DISTRICTS) == set(DISTRICTS)
    assert rule_districts({"field": "language", "op": "eq", "value": "en"}, DISTRICTS) == set(
        DISTRICTS
    )
    narrowed = rule_without(north, ["北"])
    assert narrowed == {"all": [north, {"not": {"field": "district", "op": "in", "value": ["北"]}}]}


def test_hold_for_is_pure_and_covers_every_blocking_order() -> None:
    orders = [
        Emergency(
            id=1,
            level=3,
            kind="洪水",
            districts=["北"],
            department_id=1,
            created_by="d",
            created_at=T0,
        ),
        Emergency(
            id=2,
            level=5,
            kind="土砂災害",
            districts=["南"],
            department_id=1,
            created_by="d",
            created_at=T0,
        ),
    ]
    hold = hold_for({"北", "南"}, orders, DISTRICTS)
    assert hold is not None
    assert (hold.emergency_ids, hold.districts, hold.whole) == ((1, 2), ("北", "南"), True)
    assert "警戒レベル5 緊急安全確保（土砂災害）" in hold.reason


def test_a_routine_notice_due_during_an_order_is_held_then_sent_after_the_lift(
    client: TestClient,
    tokens: dict[str, str],
    engine: Engine,
    line_app_settings: Settings,
    make_resident: Callable[..., Resident],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    """Through the one dispatch path: the tick holds the notice (shown to its department
    as held, with the reason), the lift releases it, the next tick sends it."""
    resident = make_resident(district="北")
    desk = tokens["危機管理課"]
    emergency = _order(client, desk)
    deliver()  # the order itself goes out
    tip = _routine(engine, {"field": "district", "op": "in", "value": ["北"]})
    # Whatever hour the test runs at: quiet hours have their own tests.
    settings = line_app_settings.model_copy(update={
        "quiet_hours": line_app_settings.quiet_hours.model_copy(update={"enabled": False})})
    renderer = Renderer.from_settings(settings)
    due = utcnow() + timedelta(hours=1, seconds=1)
    assert dispatch_due(engine, settings, renderer, due) == 0
    shown = client.get(f"/api/v1/broadcasts/{tip.id}", headers=auth(tokens["環境課"])).json()
    assert shown["status"] == "held" and "発令中" in shown["status_reason"]
    # Held, it does not expire however long the disaster lasts.
    later = due + timedelta(hours=5)
    assert dispatch_due(engine, settings, renderer, later) == 0
    assert release_held(engine, settings, renderer, later) == 0
    lifted = client.post(f"/api/v1/emergencies/{emergency['id']}/lift", headers=auth(desk))
    assert lifted.status_code == 201, lifted.text
    deliver()  # the lift
    assert release_held(engine, settings, renderer, later) == 1
    assert dispatch_due(engine, settings, renderer, later + timedelta(seconds=1)) == 1
    deliver()
    texts = [m[0]["text"] for m in received(sandbox, resident.line_user_id)]
    assert texts[-1] == "今月の消費生活情報です。"
    assert len(texts) == 3  # the order, its lift, then the notice
