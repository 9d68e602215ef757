"""The TEXT_COMMANDS / POSTBACK_COMMANDS hook other areas answer residents through."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster import webhook_commands
from broadcaster.clock import utcnow
from broadcaster.garbage.importer import import_calendar
from broadcaster.settings import Settings
from segments.residents import Resident
from tests.conftest import line_user_id
from tests.garbage.conftest import allday, vcal
from tests.webhook.conftest import LineUser
from tests.webhook.test_enrollment import resident_of


def next_collections(session: Session, resident: Resident, now: datetime) -> list[dict[str, Any]]:
    return [{"type": "text", "text": f"{resident.district}: 次の収集日は燃えるごみ"}]


def broken(session: Session, resident: Resident, now: datetime) -> list[dict[str, Any]]:
    raise RuntimeError("calendar bug")


def test_registered_text_and_postback_commands_answer_the_resident(
    make_user: Callable[[str], LineUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(webhook_commands.TEXT_COMMANDS, "ごみ", next_collections)
    monkeypatch.setitem(webhook_commands.POSTBACK_COMMANDS, "garbage", next_collections)
    user = make_user(line_user_id(30))
    user.tap(user.follow(), "中央")
    user.send("message", text=" ごみ ")
    assert user.wait_reply() == [{"type": "text", "text": "中央: 次の収集日は燃えるごみ"}]
    user.send("postback", data="action=garbage")
    assert user.wait_reply()[0]["text"].endswith("次の収集日は燃えるごみ")


def test_unknown_action_and_failing_command_answer_politely_and_keep_state(
    make_user: Callable[[str], LineUser], monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    monkeypatch.setitem(webhook_commands.TEXT_COMMANDS, "ごみ", broken)
    user = make_user(line_user_id(31))
    user.send("message", text="ごみ")
    assert user.wait_reply()[0]["text"] == webhook_commands.COMMAND_FAILED_TEXT
    resident = resident_of(engine, user.user_id)
    assert resident is not None  # the resident record survived the command's failure
    user.send("postback", data="action=nothing-like-this")
    assert "申し訳ありません" in user.wait_reply()[0]["text"]


def test_gomi_answers_with_the_next_collection_days_of_the_residents_own_zone(
    make_user: Callable[[str], LineUser], engine: Engine, line_settings: Settings
) -> None:
    """The shipped 「ごみ」 command, through LINE: a resident enrolled in zone B asks and
    gets zone B's next days from the imported calendar by reply, not zone A's."""
    today = datetime.now(line_settings.tz).date()
    soon, later = today + timedelta(days=2), today + timedelta(days=5)
    calendars = {
        "B": vcal(allday("b1", f"{soon:%Y%m%d}", "燃やすごみ"),
                  allday("b2", f"{later:%Y%m%d}", "資源ごみ")),
        "A": vcal(allday("a1", f"{soon:%Y%m%d}", "粗大ごみ")),
    }
    with Session(engine) as session:
        for zone, data in calendars.items():
            import_calendar(session, data, settings=line_settings, now=utcnow(), actor="test",
                            source="test", zone=zone)
        session.commit()
    user = make_user(line_user_id(32))
    user.tap(user.tap(user.follow(), "北"), "B")
    user.send("message", text="ごみ")
    [answer] = user.wait_reply()
    lines = answer["text"].splitlines()
    assert lines[0] == "B地区のごみ収集日"
    assert lines[1].endswith("燃やすごみ") and lines[2].endswith("資源ごみ")
    assert "粗大ごみ" not in answer["text"]
