"""The sorting dictionary: both layouts import, spellings residents type find their item, and
the answer reaches LINE by reply (signed webhook -> our app -> the sandbox)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.garbage.days import CalendarError
from broadcaster.garbage.models import CalendarImport, SortingItem
from broadcaster.garbage.sorting import Dictionary, import_dictionary, match_key, parse_dictionary
from tests.conftest import ResidentFactory, auth, line_user_id
from tests.webhook.conftest import LineUser

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)

# 5374 target.csv with English columns for some rows.
TARGET = "\n".join([
    "label,name,notice,furigana,name.en,label.en,notice.en",
    "有害ごみ,スプレー缶,中身を使い切り、穴をあけずに出してください。,すぷれーかん,"
    "spray can,hazardous waste,Use it up; do not puncture it.",
    "有害ごみ,乾電池,透明な袋に入れて出してください。,かんでんち,"
    "dry-cell battery,hazardous waste,Put them in a clear bag.",
    "燃やさないごみ,電球,,でんきゅう,light bulb,non-burnable waste,",
    "燃やすごみ,ティッシュペーパー,,てぃっしゅぺーぱー,,,",
    "資源ごみ,ペットボトル,キャップとラベルをはずしてください。,ぺっとぼとる,"
    "PET bottle,recyclables,Remove the cap and label.",
]).encode()
PLAIN = "\n".join([
    "品目,区分,注意", "フライパン,燃やさないごみ,30cm以上は粗大ごみ", "みかんの皮,燃やすごみ,",
    ",燃やすごみ,", "",
]).encode()


@pytest.mark.parametrize(
    ("a", "b"),
    [("ｽﾌﾟﾚｰ缶", "スプレー缶"), ("すぷれーかん", "スプレーカン"), ("ﾍﾟｯﾄﾎﾞﾄﾙ", "ぺっとぼとる"),
     ("ティッシュ", "てぃっしゅ"), ("ＰＥＴ", "pet")],
)
def test_spellings_residents_type_share_one_key(a: str, b: str) -> None:
    assert match_key(a) == match_key(b)


def test_both_layouts_parse_with_languages_and_warnings() -> None:
    entries, _ = parse_dictionary(TARGET)
    assert [e.name for e in entries][:2] == ["スプレー缶", "乾電池"]
    assert entries[0].translations["en"] == {
        "name": "spray can", "category": "hazardous waste",
        "notice": "Use it up; do not puncture it.",
    }
    plain, plain_warnings = parse_dictionary(PLAIN)
    assert [(e.name, e.category, e.notice) for e in plain] == [
        ("フライパン", "燃やさないごみ", "30cm以上は粗大ごみ"), ("みかんの皮", "燃やすごみ", "")]
    assert plain_warnings == ["line 4: no item name or category; skipped"]
    with pytest.raises(CalendarError, match="品目,区分,注意"):
        parse_dictionary(b"a,b\n1,2\n")


@pytest.mark.parametrize(
    ("asked", "exact", "near"),
    [
        ("スプレー缶", ["スプレー缶"], []),
        ("すぷれーかん", ["スプレー缶"], []),
        ("ｽﾌﾟﾚｰ", [], ["スプレー缶"]),
        ("電池", [], ["乾電池"]),
        ("乾電池の捨て方は？", ["乾電池"], []),
        ("light bulb", ["電球"], []),
        ("てっしゅ", [], ["ティッシュペーパー"]),
        ("冷蔵庫", [], []),
    ],
)
def test_lookup_finds_exact_then_nearest(asked: str, exact: list[str], near: list[str]) -> None:
    found = Dictionary(parse_dictionary(TARGET)[0]).lookup(asked)
    assert [e.name for e in found.exact] == exact
    assert [e.name for e in found.near][: len(near) or None] == near


def load(engine: Engine, data: bytes = TARGET) -> dict[str, object]:
    with Session(engine) as session:
        report = import_dictionary(session, data, now=NOW, actor="test", source="dictionary:t")
        session.commit()
    return report


def test_an_import_replaces_the_dictionary_and_a_bad_file_changes_nothing(engine: Engine) -> None:
    load(engine)
    report = load(engine, PLAIN)
    assert report["items"] == 2 and report["languages"] == ["ja"]
    with Session(engine) as session:
        assert {row.name for row in session.exec(select(SortingItem)).all()} == {
            "フライパン", "みかんの皮"}
    with pytest.raises(CalendarError):
        load(engine, b"nothing,here\n")
    with Session(engine) as session:
        assert len(session.exec(select(SortingItem)).all()) == 2
        assert len(session.exec(select(CalendarImport)).all()) == 2


def test_api_import_by_the_garbage_department(
    app_client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    response = app_client.post(
        "/api/v1/calendars/dictionary", headers=auth(tokens["環境課"]),
        files={"file": ("target.csv", TARGET, "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == 5 and response.json()["languages"] == ["ja", "en"]
    refused = app_client.post(
        "/api/v1/calendars/dictionary", headers=auth(tokens["環境課"]),
        files={"file": ("x.csv", b"a,b\n", "text/csv")},
    )
    assert refused.status_code == 422


def resident_user(make_user: Callable[[str], LineUser], make_resident: ResidentFactory,
                  n: int, **fields: object) -> LineUser:
    user = make_user(line_user_id(n))
    make_resident(line_user_id=user.user_id, **fields)
    return user


def test_a_resident_sending_an_item_gets_its_category_by_reply(
    make_user: Callable[[str], LineUser], make_resident: ResidentFactory, engine: Engine
) -> None:
    load(engine)
    user = resident_user(make_user, make_resident, 501)
    user.send("message", text="スプレー缶")
    [found] = user.wait_reply()
    assert found["text"] == ("「スプレー缶」は【有害ごみ】です。\n"
                             "中身を使い切り、穴をあけずに出してください。")
    user.send("message", text="ｽﾌﾟﾚｰ")
    [near] = user.wait_reply()
    assert near["text"].splitlines() == [
        "「ｽﾌﾟﾚｰ」はそのままでは見つかりませんでした。近いもの:", "・スプレー缶: 有害ごみ"]
    assert near["quickReply"]["items"][0]["action"] == {
        "type": "message", "label": "スプレー缶", "text": "スプレー缶"}
    user.send("message", text="電池")
    assert "・乾電池: 有害ごみ" in user.wait_reply()[0]["text"]
    user.send("message", text="冷蔵庫")
    [missing] = user.wait_reply()
    assert missing["text"] == ("「冷蔵庫」は分別辞典に見つかりません。別の言い方で送るか、"
                               "市役所の環境課にお問い合わせください。")


def test_a_resident_reading_english_is_answered_in_english_where_the_dictionary_has_it(
    make_user: Callable[[str], LineUser], make_resident: ResidentFactory, engine: Engine
) -> None:
    load(engine)
    user = resident_user(make_user, make_resident, 502, language="en")
    user.send("message", text="乾電池")
    assert user.wait_reply()[0]["text"] == (
        '"dry-cell battery": hazardous waste.\nPut them in a clear bag.')
    user.send("message", text="ティッシュペーパー")  # no English in the dictionary: Japanese
    assert user.wait_reply()[0]["text"] == '"ティッシュペーパー": 燃やすごみ.'
    user.send("message", text="fridge")
    assert "not in the sorting dictionary" in user.wait_reply()[0]["text"]


def test_without_a_dictionary_or_for_long_text_the_help_text_still_answers(
    make_user: Callable[[str], LineUser], make_resident: ResidentFactory, engine: Engine
) -> None:
    user = resident_user(make_user, make_resident, 503)
    user.send("message", text="電池")
    assert "個別のご質問にはお答えできません" in user.wait_reply()[0]["text"]
    load(engine)
    question = (
        "こんにちは。先日の大雨の件でご相談したいことがあるのですが、どこに連絡すればよいですか"
    )
    user.send("message", text=question)
    assert "個別のご質問にはお答えできません" in user.wait_reply()[0]["text"]
