"""Messages people can act on: updates are marked in every language, districts, shelters
and the desk's free text in the resident's language (Japanese, with a note, when missing),
one 【訓練】, and a dry run that warns and answers 200."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import Settings
from segments.residents import Resident
from tests.conftest import auth
from tests.delivery.scenario import line_settings
from tests.emergency.conftest import received

ORDER = {"level": 4, "districts": ["北"], "kind": "洪水", "text": "川に近づかないでください"}
UPDATE_MARKS = {
    "ja": "【更新】",
    "easy-ja": "【あたらしい おしらせ（更新）】",
    "en": "[UPDATE]",
    "zh": "【更新】",
    "ko": "【업데이트】",
    "vi": "[CẬP NHẬT]",
    "pt": "[ATUALIZAÇÃO]",
}


@pytest.fixture
def line_app_settings(tmp_path: Path, sandbox: SandboxThread) -> Settings:
    return line_settings(
        tmp_path,
        sandbox.url,
        **{
            "emergency.district_names": {"en": {"北": "Kita"}, "vi": {"北": "Kita"}},
            "emergency.shelter_names": {"en": {"北小学校": "Kita Elementary School"}},
        },
    )


def _order(client: TestClient, tokens: dict[str, str], **fields: Any) -> Any:
    response = client.post(
        "/api/v1/emergencies", headers=auth(tokens["危機管理課"]), json={**ORDER, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_an_update_is_marked_in_every_language(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    readers = {lang: make_resident(district="北", language=lang) for lang in UPDATE_MARKS}
    emergency = _order(client, tokens)
    deliver()
    response = client.post(
        f"/api/v1/emergencies/{emergency['id']}/updates",
        headers=auth(tokens["危機管理課"]),
        json={"level": 5},
    )
    assert response.status_code == 201, response.text
    deliver()
    for lang, resident in readers.items():
        first, update = received(sandbox, resident.line_user_id)
        assert UPDATE_MARKS[lang] not in first[0]["text"], lang
        assert update[0]["text"].startswith(UPDATE_MARKS[lang]), (lang, update[0]["text"])
    titles = [
        b["title"]
        for b in client.get(
            f"/api/v1/emergencies/{emergency['id']}", headers=auth(tokens["危機管理課"])
        ).json()["broadcasts"]
    ]
    assert titles[1].startswith("【更新】")


def test_english_reader_gets_district_shelter_and_text_in_english(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    make_shelter: Callable[..., Any],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    english = make_resident(district="北", language="en")
    chinese = make_resident(district="北", language="zh")
    make_shelter("北小学校", "北")
    _order(client, tokens, texts={"en": "Stay away from the river."})
    deliver()
    [messages] = received(sandbox, english.line_user_id)
    text = messages[0]["text"]
    assert "the Kita district" in text and "「北」" not in text
    assert "Stay away from the river." in text and "川に近づかないでください" not in text
    assert "Kita Elementary School" in text
    assert [m["title"] for m in messages if m["type"] == "location"] == ["Kita Elementary School"]
    [zh_messages] = received(sandbox, chinese.line_user_id)
    # No Chinese names or text configured: Japanese, with a note saying so.
    assert "北地区" in zh_messages[0]["text"]
    assert "市政府的通知（日语）：\n川に近づかないでください" in zh_messages[0]["text"]


def test_a_drill_is_marked_once(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    resident = make_resident(district="北")
    emergency = _order(client, tokens, drill=True)
    deliver()
    [messages] = received(sandbox, resident.line_user_id)
    assert (
        messages[0]["text"].startswith("【訓練】") and "【訓練】【訓練】" not in messages[0]["text"]
    )
    assert "【訓練】" not in emergency["broadcasts"][0]["title"]


def test_dry_run_answers_200_and_warns_per_district(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    make_shelter: Callable[..., Any],
    sandbox: SandboxThread,
) -> None:
    make_resident(district="北", language="en")
    make_resident(district="南", language="pt")
    make_shelter("北小学校", "北")
    make_shelter("南公民館", "南", kinds=("地震",))  # open, but not for floods
    response = client.post(
        "/api/v1/emergencies",
        headers=auth(tokens["危機管理課"]),
        json={**ORDER, "districts": ["北", "南"], "dry_run": True},
    )
    assert response.status_code == 200
    body = response.json()
    north, south = body["districts"]["北"], body["districts"]["南"]
    assert not any("避難所がありません" in w for w in north["warnings"])
    assert any("南地区に洪水に対応する開設中の避難所がありません" in w for w in south["warnings"])
    # Languages by the names staff read (segments.catalog.STAFF_LANGUAGE_NAMES), not codes.
    assert any(w.startswith("Português: 地区名「南」") for w in south["warnings"])
    assert any("English: 自由記述の訳がない" in w for w in north["warnings"])
    assert sandbox.requests() == []


def test_free_text_in_a_language_residents_cannot_choose_is_refused(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/emergencies",
        headers=auth(tokens["危機管理課"]),
        json={**ORDER, "texts": {"fr": "Restez loin"}},
    )
    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["texts"]
    listing = client.get("/api/v1/emergencies", headers=auth(tokens["危機管理課"])).json()
    assert listing["counts"] == {"live": 0, "drill": 0}
