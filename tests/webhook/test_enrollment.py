"""The settings conversation, played by a resident through the sandbox."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.sandbox.testing import SandboxThread
from broadcaster.webhook_events import WebhookEvent
from segments.residents import Resident, ResidentInterest
from tests.conftest import line_user_id
from tests.webhook.conftest import LineUser, quick_labels


def resident_of(engine: Engine, user_id: str) -> Resident | None:
    with Session(engine) as session:
        return session.exec(select(Resident).where(Resident.line_user_id == user_id)).first()


def interests_of(engine: Engine, resident_id: int | None) -> set[str]:
    with Session(engine) as session:
        rows = session.exec(
            select(ResidentInterest.interest).where(ResidentInterest.resident_id == resident_id)
        )
        return set(rows.all())


LANGUAGES = ["日本語", "やさしい にほんご", "English", "中文", "한국어", "Tiếng Việt", "Português"]


def test_full_enrollment_asks_the_language_first_then_stores_choices_in_japanese(
    make_user: Callable[[str], LineUser], engine: Engine, sandbox: SandboxThread
) -> None:
    user = make_user(line_user_id(1))
    user.send("follow")
    first = user.wait_reply()
    # Nobody has to read Japanese to answer the first question.
    assert "Please choose your language." in first[-1]["text"]
    assert quick_labels(first) == LANGUAGES
    welcome = user.tap(first, "日本語")
    assert "友だち追加ありがとうございます" in welcome[0]["text"]
    assert "お住まいの地区" in welcome[-1]["text"] and "（2/5）" in welcome[-1]["text"]
    assert quick_labels(welcome) == ["中央", "北", "南", "東", "西", "山間"]

    zone_question = user.tap(welcome, "北")
    assert "収集地区" in zone_question[-1]["text"]
    assert quick_labels(zone_question) == ["A", "B", "C", "D"]
    reminder_question = user.tap(zone_question, "B")
    assert quick_labels(reminder_question) == ["前日19時", "当日朝6時30分", "受け取らない"]
    interests = user.tap(reminder_question, "当日朝6時30分")
    assert "複数選べます" in interests[-1]["text"]
    interests = user.tap(interests, "子育て")
    interests = user.tap(interests, "防災")
    assert "✓子育て" in quick_labels(interests) and "✓防災" in quick_labels(interests)
    interests = user.tap(interests, "✓防災")  # toggled off again
    assert "選んだ分野: 子育て\n" in interests[-1]["text"]
    done = user.tap(interests, "完了")
    assert "配信設定が完了しました" in done[-1]["text"]
    for line in (
        "地区: 北",
        "収集地区: B",
        "ごみ出し通知: 当日朝6時30分",
        "関心: 子育て",
        "言語: 日本語",
    ):
        assert line in done[-1]["text"]
    assert quick_labels(done) == ["設定をやり直す"]

    resident = resident_of(engine, user.user_id)
    assert resident is not None
    assert (
        resident.district,
        resident.garbage_zone,
        resident.reminder_timing,
        resident.language,
        resident.enrollment_step,
    ) == ("北", "B", "morning", "ja", None)
    assert interests_of(engine, resident.id) == {"子育て"}
    # Every answer was a free reply, recorded by the sandbox for this user only.
    replies = [d for d in sandbox.deliveries(user.user_id) if d["endpoint"] == "reply"]
    assert len(replies) == 9
    assert sandbox.totals()["quota_used"] == 0


def test_unknown_postback_value_is_ignored_with_a_polite_reply(
    make_user: Callable[[str], LineUser], engine: Engine
) -> None:
    user = make_user(line_user_id(2))
    user.follow()
    before = resident_of(engine, user.user_id)
    user.send("postback", data="set=district&v=火星")
    answer = user.wait_reply()
    assert "申し訳ありません" in answer[0]["text"]
    assert "お住まいの地区" in answer[-1]["text"]  # the same question again
    user.send("postback", data="set=lang&v=klingon")
    assert "申し訳ありません" in user.wait_reply()[0]["text"]
    user.send("postback", data="garbage=%%%")
    assert "申し訳ありません" in user.wait_reply()[0]["text"]
    after = resident_of(engine, user.user_id)
    assert before is not None and after is not None
    assert (after.district, after.language, after.enrollment_step, after.updated_at) == (
        None,
        "ja",
        "district",
        before.updated_at,
    )


def test_settings_text_reopens_the_conversation_keeping_choices(
    make_user: Callable[[str], LineUser], engine: Engine
) -> None:
    user = make_user(line_user_id(3))
    user.tap(user.follow(), "南")
    user.send("message", text="配信設定")
    again = user.wait_reply()
    assert "お住まいの地区" in again[-1]["text"]
    resident = resident_of(engine, user.user_id)
    assert resident is not None and resident.district == "南"
    assert resident.enrollment_step == "district"
    # The rich menu's postback does the same.
    user.send("postback", data="action=settings")
    assert "お住まいの地区" in user.wait_reply()[-1]["text"]


def test_other_text_repeats_the_question_or_gives_help(
    make_user: Callable[[str], LineUser], engine: Engine
) -> None:
    user = make_user(line_user_id(4))
    user.follow()
    user.send("message", text="こんにちは")
    answer = user.wait_reply()
    assert answer[0]["text"] == "下のボタンから選んでください。"
    assert "お住まいの地区" in answer[-1]["text"]
    with Session(engine) as session:
        session.execute(sa.update(Resident).values(enrollment_step=None))
        session.commit()
    user.send("message", text="こんにちは")
    assert "「配信設定」" in user.wait_reply()[0]["text"]
    with Session(engine) as session:
        assert len(session.exec(select(WebhookEvent)).all()) == 4


def test_residents_stop_and_restart_categories_with_haishin_teishi(
    make_user: Callable[[str], LineUser], engine: Engine, sandbox: SandboxThread
) -> None:
    from segments.residents import ResidentOptOut

    user = make_user(line_user_id(7))
    user.follow()
    user.send("message", text="配信停止")
    menu = user.wait_reply()
    assert "受け取りたくないお知らせ" in menu[-1]["text"]
    assert "緊急のお知らせは、この設定にかかわらず届きます" in menu[-1]["text"]
    assert quick_labels(menu)[:3] == ["市からのお知らせ", "ごみ出し", "子育て"]
    menu = user.tap(menu, "ごみ出し")
    menu = user.tap(menu, "イベント")
    assert "✓ごみ出し" in quick_labels(menu) and "停止中: ごみ出し、イベント" in menu[-1]["text"]
    menu = user.tap(menu, "✓イベント")  # restarted
    done = user.tap(menu, "完了")
    assert "停止中のお知らせ: ごみ出し" in done[-1]["text"]

    resident = resident_of(engine, user.user_id)
    assert resident is not None
    with Session(engine) as session:
        stopped = session.exec(
            select(ResidentOptOut.category).where(ResidentOptOut.resident_id == resident.id)
        ).all()
    assert stopped == ["garbage"]
    assert resident.enrollment_step is None


def test_a_forged_category_stops_nothing(
    make_user: Callable[[str], LineUser], engine: Engine, sandbox: SandboxThread
) -> None:
    from segments.residents import ResidentOptOut

    user = make_user(line_user_id(8))
    user.follow()
    user.send("postback", data="set=stop&v=emergency")
    apology = user.wait_reply()
    assert "受け付けられませんでした" in apology[0]["text"]
    with Session(engine) as session:
        assert session.exec(select(ResidentOptOut)).all() == []
