"""Alert feeds (CAP 1.2, JMA XML) make, update and cancel drafts; they never send."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.emergency.alert import AlertError, AlertStatus, parse_alert
from broadcaster.emergency.areas import AreaMap
from broadcaster.emergency.drafts import apply_alert
from broadcaster.sandbox.testing import SandboxThread
from segments.residents import Resident
from tests.conftest import T0, auth, make_settings
from tests.emergency import documents as docs
from tests.emergency import telegrams as tg
from tests.emergency.conftest import received

XML = {"Content-Type": "application/xml"}


def post(client: TestClient, token: str, body: bytes) -> Any:
    return client.post("/api/v1/alerts", headers={**auth(token), **XML}, content=body)


def test_cap_alert_makes_a_prefilled_draft_linked_to_its_source(
    client: TestClient, tokens: dict[str, str], sandbox: SandboxThread
) -> None:
    response = post(client, tokens["危機管理課"], docs.cap())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["outcome"] == "draft_created"
    draft = body["draft"]
    assert (draft["level"], draft["kind"], draft["districts"]) == (4, "洪水", ["山間"])
    assert draft["identifier"] == "city-2026-0001"
    assert draft["sender"] == docs.CAP_SENDER
    assert "氾濫危険水位" in draft["text"] and not draft["drill"]
    record = client.get(f"/api/v1/alerts/{body['alert_id']}", headers=auth(tokens["環境課"]))
    assert "<identifier>city-2026-0001</identifier>" in record.json()["raw"]
    assert sandbox.requests() == []


def test_cap_update_changes_the_same_draft_and_cancel_cancels_it(
    client: TestClient, tokens: dict[str, str]
) -> None:
    desk = tokens["危機管理課"]
    first = post(client, desk, docs.cap()).json()["draft"]
    update = post(
        client,
        desk,
        docs.cap(
            "city-2026-0002",
            msg_type="Update",
            references=docs.cap_reference(),
            severity="Extreme",
            certainty="Observed",
            description="〇〇川が氾濫しました。",
            sent="2026-06-30T15:00:00+09:00",
        ),
    ).json()
    assert update["outcome"] == "draft_updated"
    assert update["draft"]["id"] == first["id"]
    assert (update["draft"]["level"], update["draft"]["text"].splitlines()[0]) == (
        5,
        "〇〇川が氾濫しました。",
    )
    # A cancel referring to the update (not the original) still finds the draft.
    cancel = post(
        client,
        desk,
        docs.cap(
            "city-2026-0003",
            msg_type="Cancel",
            references=docs.cap_reference("city-2026-0002", "2026-06-30T15:00:00+09:00"),
        ),
    ).json()
    assert (cancel["outcome"], cancel["draft"]["status"]) == ("draft_cancelled", "cancelled")
    confirm = client.post(f"/api/v1/emergencies/drafts/{first['id']}/confirm", headers=auth(desk))
    assert confirm.status_code == 409


def test_the_same_document_twice_is_recorded_once(
    client: TestClient, tokens: dict[str, str]
) -> None:
    post(client, tokens["危機管理課"], docs.cap())
    again = post(client, tokens["危機管理課"], docs.cap()).json()
    assert again["outcome"] == "duplicate"
    alerts = client.get("/api/v1/alerts", headers=auth(tokens["危機管理課"])).json()["alerts"]
    assert len(alerts) == 1 and "raw" not in alerts[0]


def test_confirming_a_draft_sends_it_and_a_later_cancel_asks_for_attention(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    resident = make_resident(district="山間")
    elsewhere = make_resident(district="中央")
    desk = tokens["危機管理課"]
    draft = post(client, desk, docs.cap()).json()["draft"]
    confirmed = client.post(
        f"/api/v1/emergencies/drafts/{draft['id']}/confirm",
        headers=auth(desk),
        json={"text": "市の指示です"},
    )
    assert confirmed.status_code == 201, confirmed.text
    deliver()
    [messages] = received(sandbox, resident.line_user_id)
    assert "避難指示" in messages[0]["text"] and "市の指示です" in messages[0]["text"]
    assert received(sandbox, elsewhere.line_user_id) == []
    cancel = post(
        client, desk, docs.cap("city-2026-0009", msg_type="Cancel", references=docs.cap_reference())
    ).json()
    assert cancel["outcome"] == "attention"
    assert "解除" in cancel["draft"]["attention"]
    assert cancel["draft"]["emergency_id"] == confirmed.json()["id"]


def test_exercise_alerts_only_ever_become_drill_drafts(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    resident = make_resident(district="山間")
    desk = tokens["危機管理課"]
    draft = post(client, desk, docs.cap(status="Exercise")).json()["draft"]
    assert draft["drill"] is True
    url = f"/api/v1/emergencies/drafts/{draft['id']}/confirm"
    assert client.post(url, headers=auth(desk), json={"drill": False}).status_code == 422
    sent = client.post(url, headers=auth(desk))
    assert sent.json()["drill"] is True
    deliver()
    [messages] = received(sandbox, resident.line_user_id)
    assert messages[0]["text"].startswith("【訓練】")
    jma_drill = post(client, desk, docs.jma(status="訓練")).json()
    assert jma_drill["draft"]["drill"] is True


def test_exercise_alerts_can_be_recorded_and_ignored(session: Session, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, **{"emergency.exercise_alerts": "ignore"})
    alert = parse_alert(docs.jma(status="試験"), 10_000)
    assert alert.status is AlertStatus.exercise
    areas = AreaMap(settings.emergency.area_districts, settings.residents.districts)
    result = apply_alert(session, alert, "raw", areas, "ignore", T0)
    assert (result.outcome, result.draft) == ("ignored_exercise", None)
    assert result.record.id is not None


def test_jma_landslide_warning_serials_update_and_cancel_one_draft(
    client: TestClient, tokens: dict[str, str]
) -> None:
    desk = tokens["危機管理課"]
    first = post(client, desk, docs.jma()).json()
    assert first["outcome"] == "draft_created"
    draft = first["draft"]
    assert (draft["level"], draft["kind"]) == (4, "土砂災害")
    assert draft["districts"] == ["中央", "北", "南", "東", "西", "山間"]
    later = post(client, desk, docs.jma(serial=3, report_time="2026-07-01T16:00:00+09:00")).json()
    assert (later["outcome"], later["draft"]["serial"]) == ("draft_updated", 3)
    stale = post(client, desk, docs.jma(serial=2, report_time="2026-07-01T15:00:00+09:00")).json()
    assert stale["outcome"] == "stale"
    cancelled = post(
        client, desk, docs.jma(info_type="取消", serial=4, report_time="2026-07-01T16:30:00+09:00")
    ).json()
    assert cancelled["outcome"] == "draft_cancelled"
    assert cancelled["draft"]["id"] == draft["id"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x", 422, "malformed"),
        (docs.XXE, 422, "unsafe XML"),
        (docs.BILLION_LAUGHS, 422, "unsafe XML"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", 422, "unsupported document"),
        (docs.cap(status="Bogus"), 422, "status"),
        ("<?xml version='1.0' encoding='Shift_JIS'?><alert/>".encode("cp932"), 422, "UTF-8"),
        (b"<x>" + b"a" * 1_000_001 + b"</x>", 413, "limit"),
    ],
)
def test_bad_documents_are_refused_with_one_line(
    client: TestClient, tokens: dict[str, str], body: bytes, status: int, words: str
) -> None:
    response = post(client, tokens["危機管理課"], body)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert response.json()["code"] in ("alert.refused", "body.too_large")
    assert words in detail and "\n" not in detail


def test_parse_refuses_oversize_before_parsing() -> None:
    with pytest.raises(AlertError) as caught:
        parse_alert(docs.cap(), 100)
    assert caught.value.status == 413


def test_departments_cannot_post_alerts(client: TestClient, tokens: dict[str, str]) -> None:
    assert post(client, tokens["環境課"], docs.cap()).status_code == 403


def test_alert_for_areas_we_do_not_serve_makes_no_draft(
    client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    body = docs.cap(area="<areaDesc>隣の町</areaDesc>")
    assert post(client, tokens["危機管理課"], body).json()["outcome"] == "outside_city"


@pytest.mark.parametrize(
    "body",
    [
        tg.weather(tg.H27, tg.item(tg.kind("高潮警報", "08"))),
        tg.weather(tg.R06, tg.item(tg.kind("レベル４土砂災害危険警報"))),
        tg.weather("気象警報・注意報（Ｒ０６）（大雨）", tg.item(tg.kind("レベル３大雨警報"))),
        tg.river("氾濫警戒情報", "30"),
        tg.tsunami((("600", "津波警報", "51"),)),
    ],
    ids=["VPWW54", "VPWW56", "VPWW55", "VXKO", "VTSE41"],
)
def test_real_shaped_jma_telegrams_are_accepted_over_http(
    client: TestClient, tokens: dict[str, str], body: bytes
) -> None:
    response = post(client, tokens["危機管理課"], body)
    assert response.status_code == 201, response.text
    assert response.json()["outcome"] in ("draft_created", "outside_city")
    if b"<Code>600</Code>" not in body:  # the tsunami region is not mapped in config.toml
        assert response.json()["draft"]["level"] in (3, 4)
