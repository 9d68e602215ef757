"""Job 12: /console/benefits: programs with eligible / notified / unreachable counts, and
notifying after a confirmation page, through the API's own functions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.benefits.models import BenefitNotification, BenefitProgram
from broadcaster.broadcasts import Broadcast
from segments.residents import Resident
from tests.clock import freeze_time
from tests.conftest import auth
from tests.console.signing import sign_in

PROGRAM = {
    "name": "子育て世帯臨時給付金",
    "rule": {"all": [{"field": "子育て世帯", "op": "eq", "value": True}]},
    "parameters": {
        "details": "児童1人あたり5万円を支給します。",
        "how_to_apply": "市役所窓口で申請",
        "contact": "子育て支援課 093-000-0000",
        "amount": 50000,
    },
    "deadline": "2026-09-30",
}


def _program(client: TestClient, token: str, **changes: Any) -> int:
    answer = client.post("/api/v1/benefits", headers=auth(token), json={**PROGRAM, **changes})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _notified(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(BenefitNotification)).all())


def test_a_department_sees_counts_confirms_and_notifies_once(
    app_client: TestClient,
    engine: Engine,
    staff: dict[str, str],
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
) -> None:
    program = _program(app_client, tokens["子育て支援課"])
    for _ in range(2):
        make_resident(flags=["子育て世帯"])
    make_resident(flags=["子育て世帯"], follow_state="blocked")
    make_resident(flags=["高齢者のみ世帯"])
    csrf = sign_in(app_client, "kosodate")
    listing = app_client.get("/console/benefits").text
    assert "子育て世帯臨時給付金" in listing
    detail = app_client.get(f"/console/benefits/{program}").text
    assert 'id="eligible">3<' in detail and 'id="pending">2<' in detail
    assert 'id="not-reachable">1<' in detail
    confirm = app_client.get(f"/console/benefits/{program}/notify").text
    assert "未通知の2人にLINEで送ります" in confirm and _notified(engine) == 0
    with freeze_time("2026-04-01 10:00:00+09:00"):
        done = app_client.post(f"/console/benefits/{program}/notify", data={"csrf_token": csrf})
    assert done.status_code == 200 and "2人にお知らせを送りました" in done.text
    assert 'id="notified">2<' in done.text and 'id="pending">0<' in done.text
    assert _notified(engine) == 2
    with Session(engine) as session:
        broadcast = session.exec(select(Broadcast)).one()
        assert broadcast.created_by == "子育て支援課 山田 花子"
    with freeze_time("2026-04-01 10:05:00+09:00"):
        again = app_client.post(f"/console/benefits/{program}/notify", data={"csrf_token": csrf})
    assert "新たにお知らせする方はいませんでした" in again.text and _notified(engine) == 2


def test_quiet_hours_refuse_in_japanese_and_nothing_is_written(
    app_client: TestClient,
    engine: Engine,
    staff: dict[str, str],
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
) -> None:
    program = _program(app_client, tokens["子育て支援課"])
    make_resident(flags=["子育て世帯"])
    csrf = sign_in(app_client, "kosodate")
    with freeze_time("2026-04-01 23:30:00+09:00"):
        refused = app_client.post(f"/console/benefits/{program}/notify", data={"csrf_token": csrf})
    assert refused.status_code == 422
    assert 'id="error-summary"' in refused.text and "通知できませんでした" in refused.text
    assert _notified(engine) == 0
    with Session(engine) as session:
        assert session.exec(select(Broadcast)).all() == []


def test_other_departments_programs_are_404_and_the_desk_is_403(
    app_client: TestClient,
    engine: Engine,
    staff: dict[str, str],
    tokens: dict[str, str],
) -> None:
    program = _program(app_client, tokens["子育て支援課"])
    csrf = sign_in(app_client, "kankyo")
    assert "子育て世帯臨時給付金" not in app_client.get("/console/benefits").text
    assert app_client.get(f"/console/benefits/{program}").status_code == 404
    assert (
        app_client.post(
            f"/console/benefits/{program}/notify", data={"csrf_token": csrf}
        ).status_code
        == 404
    )
    app_client.cookies.clear()
    csrf = sign_in(app_client, "bosai")
    assert app_client.get("/console/benefits").status_code == 403
    assert (
        app_client.post(
            f"/console/benefits/{program}/notify", data={"csrf_token": csrf}
        ).status_code
        == 403
    )
    app_client.cookies.clear()
    sign_in(app_client, "admin")
    assert "子育て世帯臨時給付金" in app_client.get("/console/benefits").text
    assert _notified(engine) == 0


def test_a_department_creates_a_program_from_the_console_through_the_api(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    assert "新しい制度を登録する" in app_client.get("/console/benefits").text
    form = app_client.get("/console/benefits/new").text
    assert 'value="子育て世帯"' in form
    answer = app_client.post(
        "/console/benefits/new",
        data={
            "name": "子育て世帯臨時給付金",
            "flags": ["子育て世帯"],
            "districts": ["中央"],
            "details": "児童1人あたり5万円を支給します。",
            "how_to_apply": "市役所窓口で申請",
            "contact": "子育て支援課 093-000-0000",
            "amount": "50,000",
            "deadline": "2026-09-30",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert "制度を登録しました" in app_client.get(answer.headers["location"]).text
    with Session(engine) as session:
        program = session.exec(select(BenefitProgram)).one()
    assert program.rule == {
        "all": [
            {"field": "子育て世帯", "op": "eq", "value": True},
            {"field": "district", "op": "in", "value": ["中央"]},
        ]
    }
    assert program.parameters["amount"] == 50000 and str(program.deadline) == "2026-09-30"
    assert program.created_by == "子育て支援課 山田 花子"  # the person, as the audit names them


def test_a_program_without_a_condition_or_name_is_refused_beside_its_fields(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    answer = app_client.post(
        "/console/benefits/new",
        data={"name": "", "details": "内容", "csrf_token": csrf},
    )
    assert answer.status_code == 422
    assert re.search(r'id="f-name"[^>]*aria-invalid="true"', answer.text)
    answer = app_client.post(
        "/console/benefits/new",
        data={"name": "高齢者給付金", "details": "内容", "csrf_token": csrf},
    )
    assert answer.status_code == 422
    error = re.search(r'<p class="field-error" id="err-f-rule">([^<]+)</p>', answer.text)
    assert error and "対象者の条件を1つ以上選んでください" in error.group(1)
    assert "内容" in answer.text and 'value="高齢者給付金"' in answer.text  # kept as typed
    with Session(engine) as session:
        assert session.exec(select(BenefitProgram)).all() == []


def test_the_desk_has_no_benefit_form(app_client: TestClient, staff: dict[str, str]) -> None:
    sign_in(app_client, "bosai")
    assert app_client.get("/console/benefits/new").status_code == 403
