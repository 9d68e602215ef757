"""The disaster desk's pages: order (dry run, confirm), updates, 解除, the alert inbox and
shelters, through the same routes as the API (a refusal writes nothing)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from broadcaster.batches import Batch
from broadcaster.broadcasts import Broadcast
from broadcaster.emergency.models import Emergency, EmergencyDraft
from broadcaster.emergency.shelters import Shelter
from tests.conftest import auth
from tests.console.signing import sign_in
from tests.delivery.scenario import add_residents
from tests.emergency.documents import cap

ORDER = {
    "level": "4",
    "kind": "洪水",
    "districts": ["中央", "北"],
    "text": "〇〇川の水位が上がっています。",
    "texts.en": "The river is rising.",
    "hold_routine": "on",
}


def _town(engine: Engine) -> None:
    add_residents(
        engine,
        30,
        district=lambda n: ["中央", "北", "南"][n % 3],
        language=lambda n: ["ja", "en", "zh"][n % 3 if n % 2 else 0],
    )


def _shelter(client: TestClient, token: str, name: str, district: str, **extra: object) -> int:
    body = {
        "name": name,
        "address": f"{district}1-1",
        "district": district,
        "latitude": 35.0,
        "longitude": 139.0,
        "kinds": ["洪水"],
        **extra,
    }
    answer = client.post("/api/v1/shelters", json=body, headers=auth(token))
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _count(engine: Engine, table: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_the_desk_counts_warns_confirms_and_sends_like_the_api(
    app_client: TestClient, engine: Engine, staff: dict[str, str], tokens: dict[str, str]
) -> None:
    _town(engine)
    shelter = _shelter(app_client, tokens["危機管理課"], "中央小学校", "中央")
    app_client.post(f"/api/v1/shelters/{shelter}/open", headers=auth(tokens["危機管理課"]))
    csrf = sign_in(app_client, "bosai")
    assert "新しく発令する" in app_client.get("/console/emergency").text

    counted = app_client.post("/console/emergency/dry-run", data={**ORDER, "csrf_token": csrf})
    assert counted.status_code == 200, counted.text
    page = counted.text
    assert "まだ送信していません" in page and "中央小学校" in page
    assert "北地区には洪水に対応する開設中の避難所がありません" in page  # the warning
    assert _count(engine, Emergency) == 0  # a dry run writes nothing
    total = re.search(r'class="total">([\d,]+)人', page)
    assert total and int(total.group(1)) == 20  # 中央 and 北 of the 30

    sent = app_client.post(
        "/console/emergency", data={**ORDER, "csrf_token": csrf}, follow_redirects=False
    )
    assert sent.status_code == 303
    detail = app_client.get(sent.headers["location"]).text
    assert "警戒レベル4 避難指示（洪水）" in detail and "発令中" in detail
    with Session(engine) as session:
        emergency = session.exec(select(Emergency)).one()
        assert emergency.created_by == "危機管理課 鈴木 次郎"
        assert emergency.texts == {"en": "The river is rising."}
        # Handed to the lane like an API order: its outbox is written (inline lane).
        batches = session.exec(
            select(func.count())
            .select_from(Batch)
            .where(Batch.broadcast_id == emergency.broadcast_id)
        ).one()
        assert batches > 0
    progress = app_client.get(f"/console/emergency/{emergency.id}/progress").text
    assert "<table" in progress and "<html" not in progress

    updated = app_client.post(
        f"/console/emergency/{emergency.id}/updates",
        data={"text": "水位がさらに上がっています。", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert updated.status_code == 303
    lifted = app_client.post(
        f"/console/emergency/{emergency.id}/lift",
        data={"text": "", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert lifted.status_code == 303
    page = app_client.get(f"/console/emergency/{emergency.id}").text
    assert "【更新】避難情報" in page and "解除済み" in page
    assert "解除を送信する" not in page  # nothing more to send after 解除


def test_a_refused_order_is_shown_on_the_form_in_japanese_and_writes_nothing(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "bosai")
    before = _count(engine, Broadcast)
    answer = app_client.post(
        "/console/emergency",
        data={"kind": "洪水", "text": "本文", "csrf_token": csrf},
    )
    assert answer.status_code == 422
    assert "警戒レベルを選んでください" in answer.text
    assert re.search(r'id="f-level"\s+aria-invalid="true"', answer.text)
    assert "本文" in answer.text  # what was typed is kept
    answer = app_client.post(
        "/console/emergency/dry-run",
        data={"level": "5", "kind": "洪水", "csrf_token": csrf},
    )
    assert answer.status_code == 422 and "対象地区を1つ以上選んでください" in answer.text
    assert _count(engine, Broadcast) == before and _count(engine, Emergency) == 0


def test_a_drill_is_marked_and_striped(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    _town(engine)
    csrf = sign_in(app_client, "bosai")
    drill = {**ORDER, "drill": "on", "csrf_token": csrf}
    counted = app_client.post("/console/emergency/dry-run", data=drill).text
    assert 'class="confirm drill"' in counted and "【訓練】この内容で訓練を送信する" in counted
    sent = app_client.post("/console/emergency", data=drill, follow_redirects=False)
    page = app_client.get(sent.headers["location"]).text
    assert 'class="order-head drill"' in page and "【訓練】警戒レベル4" in page
    with Session(engine) as session:
        assert session.exec(select(Emergency)).one().drill


def test_only_the_desk_and_admins_open_the_desk(
    app_client: TestClient, staff: dict[str, str]
) -> None:
    sign_in(app_client, "kosodate")
    assert app_client.get("/console/emergency").status_code == 403
    assert app_client.get("/console/emergency/shelters").status_code == 403


def test_an_admin_opens_the_desk(app_client: TestClient, staff: dict[str, str]) -> None:
    sign_in(app_client, "admin")
    assert app_client.get("/console/emergency/alerts").status_code == 200


def test_an_alert_draft_is_confirmed_in_one_step(
    app_client: TestClient, engine: Engine, staff: dict[str, str], tokens: dict[str, str]
) -> None:
    _town(engine)
    received = app_client.post(
        "/api/v1/alerts",
        content=cap(),
        headers={**auth(tokens["危機管理課"]), "Content-Type": "application/xml"},
    )
    assert received.status_code == 201, received.text
    draft = received.json()["draft"]
    csrf = sign_in(app_client, "bosai")
    inbox = app_client.get("/console/emergency/alerts").text
    assert f'id="draft-{draft["id"]}"' in inbox
    confirmed = app_client.post(
        f"/console/emergency/alerts/{draft['id']}/confirm",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert draft["level"] and draft["districts"] == ["山間"]
    assert confirmed.status_code == 303, confirmed.text
    with Session(engine) as session:
        row = session.get(EmergencyDraft, draft["id"])
        assert row is not None and row.status == "confirmed" and row.emergency_id
    # Confirmed once: a second press is refused (409 page), nothing more sent.
    again = app_client.post(
        f"/console/emergency/alerts/{draft['id']}/confirm", data={"csrf_token": csrf}
    )
    assert again.status_code == 422 and "送信できません" in again.text
    assert _count(engine, Emergency) == 1


def test_shelters_are_opened_and_closed_from_the_screen(
    app_client: TestClient, engine: Engine, staff: dict[str, str], tokens: dict[str, str]
) -> None:
    shelter = _shelter(app_client, tokens["危機管理課"], "北公民館", "北")
    csrf = sign_in(app_client, "bosai")
    page = app_client.get("/console/emergency/shelters").text
    assert "北地区に開設中の避難所はありません" in page
    opened = app_client.post(
        f"/console/emergency/shelters/{shelter}/open",
        data={"csrf_token": csrf, "back": "/console/emergency/shelters"},
        follow_redirects=False,
    )
    assert opened.status_code == 303
    with Session(engine) as session:
        row = session.get(Shelter, shelter)
        assert row is not None and row.is_open
    app_client.post(
        f"/console/emergency/shelters/{shelter}/close",
        data={"csrf_token": csrf, "back": "https://elsewhere.example/"},
        follow_redirects=False,
    )
    with Session(engine) as session:
        row = session.get(Shelter, shelter)
        assert row is not None and not row.is_open


def test_an_update_and_a_lift_carry_per_language_texts_and_a_refusal_keeps_them(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    _town(engine)
    csrf = sign_in(app_client, "bosai")
    sent = app_client.post(
        "/console/emergency", data={**ORDER, "csrf_token": csrf}, follow_redirects=False
    )
    path = sent.headers["location"]
    page = app_client.get(path).text
    assert 'name="texts.en"' in page and 'id="f-update-texts-en"' in page
    assert 'id="f-lift-texts-en"' in page
    before = _count(engine, Broadcast)
    long = {"text": "水位が上がっています。", "texts.en": "x" * 2001, "csrf_token": csrf}
    refused = app_client.post(f"{path}/updates", data=long)
    assert refused.status_code == 422
    assert "他の言語の文を確認してください" in refused.text
    assert "水位が上がっています。" in refused.text  # what was typed is kept
    assert _count(engine, Broadcast) == before  # nothing sent
    update = {"text": "水位がさらに上がっています。", "texts.en": "The river is still rising."}
    answer = app_client.post(
        f"{path}/updates", data={**update, "csrf_token": csrf}, follow_redirects=False
    )
    assert answer.status_code == 303
    with Session(engine) as session:
        emergency = session.exec(select(Emergency)).one()
        assert emergency.texts["en"] == "The river is still rising."
    lift = {"texts.en": "The order is lifted.", "csrf_token": csrf}
    assert app_client.post(f"{path}/lift", data=lift, follow_redirects=False).status_code == 303
    with Session(engine) as session:
        lifted = session.exec(select(Broadcast).order_by(col(Broadcast.id).desc())).first()
        assert lifted is not None and "The order is lifted." in str(lifted.parameters)


def test_the_dry_run_names_languages_in_words_not_codes(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    _town(engine)
    csrf = sign_in(app_client, "bosai")
    page = app_client.post("/console/emergency/dry-run", data={**ORDER, "csrf_token": csrf}).text
    warnings = page[page.index('<ul class="warnings">') :]
    assert "English: 地区名「北」の訳がないため日本語で表示されます" in warnings
    assert "zh:" not in warnings and "en:" not in warnings
