"""Surveys end to end: created through the API, sent as a broadcast to the sandbox, answered
by tapping its quick replies (signed webhooks): a repeat, a change of mind, a comment, and
an answer after the close; and the staff survey's one-time links."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.dispatch import dispatch_broadcast
from broadcaster.kpis import answers
from broadcaster.kpis.models import Survey, SurveyAnswer
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from segments.residents import Resident
from tests.conftest import auth, line_user_id
from tests.delivery.scenario import deliver_all
from tests.kpis.conftest import ServedApp
from tests.webhook.conftest import LineUser, quick_labels

EVERYONE = {"kpis.suppression_threshold": 1}


def _create(app: ServedApp, token: str, **body: Any) -> httpx.Response:
    closes = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    return httpx.post(f"{app.url}/api/v1/surveys", json={"closes_at": closes, **body},
                      headers=auth(token), timeout=10)


def _send(engine: Engine, settings: Settings, broadcast_id: int) -> None:
    renderer = Renderer.from_settings(settings)
    assert dispatch_broadcast(engine, broadcast_id, settings, renderer, datetime.now(UTC))
    deliver_all(engine, settings)


def _survey_message(user: LineUser) -> list[dict[str, Any]]:
    [delivery] = [d for d in user.sandbox.deliveries(user.user_id) if d["endpoint"] == "multicast"]
    return list(delivery["messages"])


def _answers(engine: Engine) -> list[SurveyAnswer]:
    with Session(engine) as session:
        return list(session.exec(select(SurveyAnswer)).all())


@pytest.mark.parametrize("kpi_overrides", [EVERYONE])
def test_residents_answer_change_their_mind_comment_and_are_refused_after_the_close(
    make_user: Callable[[str], LineUser], app: ServedApp, engine: Engine,
    line_settings: Settings, tokens: dict[str, str],
) -> None:
    hanako, kenji = make_user(line_user_id(301)), make_user(line_user_id(302))
    for user in (hanako, kenji):
        user.send("follow")
        user.wait_reply()
    with engine.begin() as connection:
        connection.execute(sa.update(Resident).values(district="中央", enrollment_step=None))
    created = _create(app, tokens["情報政策課"], kpi="delivery_satisfaction")
    assert created.status_code == 201, created.text
    survey = created.json()
    _send(engine, line_settings, survey["broadcast_id"])

    message = _survey_message(hanako)
    assert "配信満足度" in message[0]["text"]
    assert quick_labels(message) == ["1 不満", "2 やや不満", "3 ふつう", "4 やや満足", "5 満足"]
    thanks = hanako.tap(message, "4 やや満足")
    assert thanks[0]["text"] == "ご回答ありがとうございました（4 やや満足）。"
    assert "ご意見" in thanks[1]["text"]
    hanako.send("message", text="文字が小さくて読みにくいです")
    assert hanako.wait_reply()[0]["text"] == answers.COMMENT_TEXT
    # The same tap twice, then a change of mind: still one answer, the latest score.
    hanako.tap(message, "2 やや不満")
    changed = hanako.tap(message, "2 やや不満")
    assert changed[0]["text"] == "回答を「2 やや不満」に変更しました。"
    kenji.tap(_survey_message(kenji), "5 満足")
    [first, second] = sorted(_answers(engine), key=lambda a: a.id or 0)
    assert (first.score, first.changed, first.comment) == (2, 2, "文字が小さくて読みにくいです")
    assert (second.score, second.district) == (5, "中央")

    results = httpx.get(f"{app.url}/api/v1/surveys/{survey['id']}",
                        headers=auth(tokens["情報政策課"]), timeout=10).json()["results"]
    assert results["respondents"] == 2 and results["average"] == 3.5
    assert results["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert results["by_district"]["中央"]["respondents"] == 2
    assert results["comments"] == 1 and results["open"] is True

    closed = httpx.post(f"{app.url}/api/v1/surveys/{survey['id']}/close",
                        headers=auth(tokens["情報政策課"]), timeout=10)
    assert closed.status_code == 200
    late = hanako.tap(message, "5 満足")
    assert late[0]["text"] == answers.CLOSED_TEXT
    # Refused after the close, and nothing changed (the last request is the webhook's,
    # whose database work is done before it answers).
    assert sorted(a.score for a in _answers(engine)) == [2, 5]


def test_results_under_the_threshold_are_not_shown(
    app_client: TestClient, engine: Engine, tokens: dict[str, str], make_resident: Any,
) -> None:
    resident = make_resident()
    created = app_client.post(
        "/api/v1/surveys", headers=auth(tokens["情報政策課"]),
        json={"kpi": "service_satisfaction",
              "closes_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()},
    )
    assert created.status_code == 201, created.text
    survey_id = created.json()["id"]
    with Session(engine) as session:
        session.add(resident)
        answers.answer_postback(session, resident, {"s": str(survey_id), "v": "5"},
                                datetime.now(UTC))
        session.commit()
    results = app_client.get(f"/api/v1/surveys/{survey_id}",
                             headers=auth(tokens["情報政策課"])).json()["results"]
    assert results["respondents"] == "< 20" and results["average"] is None
    assert set(results["distribution"].values()) == {"< 20"}
    assert results["by_district"]["中央"]["respondents"] == "< 20"


def test_a_refused_survey_stores_nothing(
    app_client: TestClient, engine: Engine, tokens: dict[str, str]
) -> None:
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for body, field in (
        ({"kpi": "delivery_satisfaction", "closes_at": past}, "closes_at"),
        ({"kpi": "no_such_kpi", "closes_at": past}, "kpi"),
        ({"title": "t", "question": "q", "rule": {"field": "nope", "op": "eq", "value": 1},
          "closes_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "rule.field"),
    ):
        response = app_client.post("/api/v1/surveys", json=body,
                                   headers=auth(tokens["情報政策課"]))
        assert response.status_code == 422, response.text
        assert field in [e["path"] for e in response.json()["errors"]]
    department = app_client.post(
        "/api/v1/surveys", headers=auth(tokens["子育て支援課"]),
        json={"kpi": "delivery_satisfaction",
              "closes_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
    )
    assert department.status_code == 403
    with Session(engine) as session:
        assert session.exec(select(Survey)).all() == []


def test_staff_answer_once_with_a_one_time_link(
    app_client: TestClient, engine: Engine, tokens: dict[str, str]
) -> None:
    admin = auth(tokens["情報政策課"])
    survey = app_client.post(
        "/api/v1/surveys", headers=admin,
        json={"kpi": "staff_satisfaction",
              "closes_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()},
    ).json()
    assert survey["broadcast_id"] is None and survey["audience"] == "staff"
    links = app_client.post(f"/api/v1/surveys/{survey['id']}/links", headers=admin,
                            json={"count": 2}).json()["links"]
    path = httpx.URL(links[0]).path
    page = app_client.get(path)
    assert page.status_code == 200 and "職員満足度" in page.text and 'name="score"' in page.text
    done = app_client.post(path, data={"score": "4", "comment": "予約画面が分かりやすい"})
    assert done.status_code == 200 and "ご回答ありがとうございました" in done.text
    again = app_client.post(path, data={"score": "1"})
    assert again.status_code == 409 and "すでに回答に使われています" in again.text
    assert app_client.get("/surveys/answer/not-a-token").status_code == 404
    [answer] = _answers(engine)
    assert (answer.score, answer.comment, answer.resident_id) == (4, "予約画面が分かりやすい", None)
    bad = app_client.post(httpx.URL(links[1]).path, data={"score": "9"})
    assert bad.status_code == 409 and len(_answers(engine)) == 1
