"""LINE's limits after every edit of an order's messages, counted in UTF-16 units: the
desk's free text and the 【訓練】 mark with emoji-heavy text (an emoji is two units)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.broadcasts import Broadcast
from broadcaster.departments import Department
from broadcaster.emergency.models import Emergency
from broadcaster.emergency.order_requests import OrderRefused, OrderRequest
from broadcaster.emergency.orders import Actor, issue_order
from broadcaster.emergency.policy import DRILL_MARK, mark_drill, with_free_text
from broadcaster.errors import field_messages
from broadcaster.limits import CUT_MARK, MAX_TEXT_UTF16, check_messages, fit_utf16, utf16_units
from broadcaster.render import Renderer
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import Settings
from segments.residents import Resident
from tests.conftest import auth
from tests.emergency.conftest import received

WAVE = "🌊"  # outside the BMP: one character, two UTF-16 units
NOW = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)


def _units(messages: list[dict[str, object]]) -> list[int]:
    return [utf16_units(str(m["text"])) for m in messages if m["type"] == "text"]


def test_cutting_counts_utf16_units_and_never_splits_an_emoji() -> None:
    cut = fit_utf16(WAVE * 3000, MAX_TEXT_UTF16)
    assert utf16_units(cut) <= MAX_TEXT_UTF16 < utf16_units(WAVE * 3000)
    assert cut.endswith(CUT_MARK)
    body = cut.removesuffix(CUT_MARK)
    assert set(body) == {WAVE}  # whole emoji only: no lone surrogate
    assert fit_utf16(WAVE * 100, MAX_TEXT_UTF16) == WAVE * 100


def test_the_drill_mark_on_a_full_message_keeps_the_mark_and_stays_within_the_limit() -> None:
    full = [{"type": "text", "text": WAVE * (MAX_TEXT_UTF16 // 2)}]
    check_messages(full)  # sendable as it is: exactly 5,000 units
    [marked] = mark_drill(full)
    assert marked["text"].startswith(DRILL_MARK)
    assert utf16_units(marked["text"]) <= MAX_TEXT_UTF16
    assert marked["text"].endswith(CUT_MARK)


def test_free_text_added_to_a_long_message_is_cut_at_its_end_with_a_mark() -> None:
    wording = "【警戒レベル4 避難指示】" + "あ" * 4800
    [message] = with_free_text([{"type": "text", "text": wording}], WAVE * 300)
    assert message["text"].startswith(wording)
    assert utf16_units(message["text"]) <= MAX_TEXT_UTF16
    assert message["text"].endswith(CUT_MARK)


def test_free_text_with_five_objects_taken_replaces_the_last_one() -> None:
    shelters = [
        {
            "type": "location",
            "title": f"避難所{n}",
            "address": "市内",
            "latitude": 35.0,
            "longitude": 139.0,
        }
        for n in range(5)
    ]
    messages = with_free_text(shelters, "川に近づかないでください")
    assert len(messages) == 5
    assert messages[0] == {"type": "text", "text": "川に近づかないでください"}


def _desk(engine: Engine) -> Actor:
    with Session(engine) as session:
        desk = session.exec(select(Department).where(Department.name == "危機管理課")).one()
    assert desk.id is not None
    return Actor("危機管理課 (test)", desk.id)


def test_a_desk_text_too_long_for_line_is_refused_at_creation_and_nothing_is_written(
    engine: Engine, settings: Settings, tokens: dict[str, str]
) -> None:
    renderer = Renderer.from_settings(settings)
    text = WAVE * 2400  # 2,400 characters, 4,800 UTF-16 units: past the room left
    with Session(engine) as session:
        with pytest.raises(OrderRefused) as refused:
            issue_order(
                session,
                _desk(engine),
                OrderRequest(level=4, districts=["中央"], kind="洪水", text=text, drill=True),
                settings,
                renderer,
                NOW,
            )
        session.rollback()
    assert refused.value.path == "text"
    assert "4,800 UTF-16 units" in refused.value.message
    assert "shorten it by" in refused.value.message
    # Staff read it in Japanese, from the catalog (the API and the desk's form alike).
    assert refused.value.code == "emergency.text_too_long"
    room = refused.value.params["room"]
    assert field_messages(refused.value) == {
        "text": "自由記入の文が長すぎます。避難情報の定型文と合わせて 1 通に収まるのは "
        f"{room:,} 文字分までのため、あと {4800 - room:,} 文字分短くしてください"
        "（絵文字は 2 文字分と数えます）。"
    }
    with Session(engine) as session:
        assert session.exec(select(Emergency)).all() == []
        assert session.exec(select(Broadcast)).all() == []


def test_an_emoji_heavy_drill_reaches_residents_within_line_limits_marked_as_a_drill(
    client: TestClient,
    tokens: dict[str, str],
    cast: dict[str, Resident],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    text = WAVE * 2000  # the API's 2,000 characters: 4,000 UTF-16 units
    response = client.post(
        "/api/v1/emergencies",
        headers=auth(tokens["危機管理課"]),
        json={"level": 4, "districts": ["中央"], "kind": "洪水", "text": text, "drill": True},
    )
    assert response.status_code == 201, response.text
    deliver()
    [messages] = received(sandbox, cast["family"].line_user_id)
    check_messages(messages)
    assert all(units <= MAX_TEXT_UTF16 for units in _units(messages))
    assert all(str(m.get("text", m.get("title", ""))).startswith(DRILL_MARK) for m in messages)
    assert any(text in str(m.get("text", "")) for m in messages)  # the desk's words, whole
