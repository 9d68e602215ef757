"""The TEXT_COMMANDS / POSTBACK_COMMANDS hook other areas answer residents through."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster import webhook
from segments.residents import Resident
from tests.conftest import line_user_id
from tests.webhook.conftest import LineUser
from tests.webhook.test_enrollment import resident_of


def next_collections(session: Session, resident: Resident, now: datetime) -> list[dict[str, Any]]:
    return [{"type": "text", "text": f"{resident.district}: 次の収集日は燃えるごみ"}]


def broken(session: Session, resident: Resident, now: datetime) -> list[dict[str, Any]]:
    raise RuntimeError("calendar bug")


def test_registered_text_and_postback_commands_answer_the_resident(
    make_user: Callable[[str], LineUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(webhook.TEXT_COMMANDS, "ごみ", next_collections)
    monkeypatch.setitem(webhook.POSTBACK_COMMANDS, "garbage", next_collections)
    user = make_user(line_user_id(30))
    user.send("follow")
    user.tap(user.wait_reply(), "中央")
    user.send("message", text=" ごみ ")
    assert user.wait_reply() == [{"type": "text", "text": "中央: 次の収集日は燃えるごみ"}]
    user.send("postback", data="action=garbage")
    assert user.wait_reply()[0]["text"].endswith("次の収集日は燃えるごみ")


def test_unknown_action_and_failing_command_answer_politely_and_keep_state(
    make_user: Callable[[str], LineUser], monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    monkeypatch.setitem(webhook.TEXT_COMMANDS, "ごみ", broken)
    user = make_user(line_user_id(31))
    user.send("message", text="ごみ")
    assert user.wait_reply()[0]["text"] == webhook.COMMAND_FAILED_TEXT
    resident = resident_of(engine, user.user_id)
    assert resident is not None  # the resident record survived the command's failure
    user.send("postback", data="action=nothing-like-this")
    assert "申し訳ありません" in user.wait_reply()[0]["text"]
