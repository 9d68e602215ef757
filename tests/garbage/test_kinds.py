"""Kinds as residents read them: notes are notes, 類 stays with its kind, bottles are not cans,
and every language lists them naturally."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.garbage.kinds import KindMatch, KindTable, kind_table
from broadcaster.garbage.models import CollectionDay
from broadcaster.garbage.reminders import ReminderPlan, names_by_language, reminder_parameters
from broadcaster.garbage.reply import garbage_reply
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from tests.conftest import ResidentFactory
from tests.garbage.conftest import Importer, allday, vcal

IMPORTED = datetime(2026, 8, 25, 3, 0, tzinfo=UTC)


@pytest.fixture
def table(settings: Settings) -> KindTable:
    return kind_table(settings)


@pytest.mark.parametrize(
    ("summary", "kinds", "unmapped", "notes"),
    [
        ("びん類", ("bottles",), None, ()),
        ("ペットボトル類・白トレイ", ("pet_bottles",), "白トレイ", ()),
        ("粗大ごみ（要予約）", ("oversized",), None, ("要予約",)),
        ("燃やさないごみ（第2・4水曜）", ("non_burnable",), None, ("第2・4水曜",)),
        ("古紙 ※雨天決行", ("paper",), None, ("雨天決行",)),
        (
            "資源ごみ、びん・缶、ペットボトル",
            ("recyclable", "bottles", "cans", "pet_bottles"),
            None,
            (),
        ),
        ("資源ごみ（びん・缶）", ("recyclable", "bottles", "cans"), None, ()),
        ("古紙・古布", ("paper", "cloth"), None, ()),
        ("有害・危険ごみ", ("hazardous",), None, ()),
        ("燃えるごみの収集日", ("burnable",), None, ()),
        ("空き缶", ("cans",), None, ()),
        ("ｶﾝ", ("cans",), None, ()),
        # Nothing known: kept exactly as the city wrote it, brackets and all.
        ("スプレー缶", (), "スプレー缶", ()),
        ("小型家電（回収ボックス）", (), "小型家電（回収ボックス）", ()),
    ],
)
def test_summaries_read_as_residents_read_them(
    table: KindTable, summary: str, kinds: tuple[str, ...], unmapped: str | None,
    notes: tuple[str, ...],
) -> None:
    assert table.match(summary) == KindMatch(kinds, unmapped, notes)


def test_kind_names_read_naturally_in_every_language(table: KindTable) -> None:
    names = names_by_language(table, ["oversized", "burnable"], [], ["要予約"])
    assert names["ja"] == "燃やすごみ、粗大ごみ（要予約）"
    assert names["easy-ja"] == "もやす ごみ、おおきい ごみ（要予約）"
    assert names["en"] == "burnable waste, oversized waste (要予約)"
    assert names["zh"] == "可燃垃圾、大件垃圾（要予約）"
    assert names["ko"] == "타는 쓰레기, 대형 쓰레기 (要予約)"
    assert names["vi"].startswith("rác cháy được, rác cồng kềnh")
    assert names["pt"].startswith("lixo queimável, lixo volumoso")
    assert "・類" not in "".join(names.values()) and "、類" not in "".join(names.values())


def test_every_reminder_variant_names_the_kinds_without_stray_separators(
    table: KindTable, renderer: Renderer
) -> None:
    plan = ReminderPlan(
        "A", date(2026, 9, 1), "eve", ("bottles",), ("白トレイ",),
        datetime(2026, 8, 31, 10, 0, tzinfo=UTC), ("要予約",),
    )
    prepared = renderer.prepare(
        template_name="garbage_reminder",
        template_text=None,
        parameters=reminder_parameters(plan, table),
    )
    texts = {
        language: prepared.render({"language": language, "district": "中央", "garbage_zone": "A",
                                   "reminder_timing": "eve"})[0]["text"]
        for language in ("ja", "easy-ja", "en", "zh", "ko", "vi", "pt")
    }
    assert "びん、白トレイ（要予約）の日です" in texts["ja"]
    assert "glass bottles, 白トレイ (要予約)" in texts["en"]
    assert "玻璃瓶" in texts["zh"] and "유리병" in texts["ko"]
    assert "chai thủy tinh" in texts["vi"] and "garrafas de vidro" in texts["pt"]
    assert all("・・" not in text and "、、" not in text for text in texts.values())


def test_a_bracketed_note_reaches_the_gomi_reply_as_a_note_not_a_kind(
    engine: Engine, settings: Settings, load: Importer, make_resident: ResidentFactory
) -> None:
    load(vcal(allday("o", "20260901", "粗大ごみ（要予約）"), allday("b", "20260902", "びん類")),
         IMPORTED)
    with Session(engine) as session:
        [message] = garbage_reply(
            session, make_resident(), datetime(2026, 8, 31, 1, 0, tzinfo=UTC), settings=settings
        )
        english = make_resident(language="en")
        [in_english] = garbage_reply(
            session, english, datetime(2026, 8, 31, 1, 0, tzinfo=UTC), settings=settings
        )
    lines = message["text"].splitlines()
    assert lines[1:] == ["【明日】9月1日(火) 粗大ごみ（要予約）", "9月2日(水) びん"]
    assert in_english["text"].splitlines() == [
        "Garbage collection days, zone A",
        "[Tomorrow] Tue, Sep 1 oversized waste (要予約)",
        "Wed, Sep 2 glass bottles",
    ]


def test_a_zone_label_in_brackets_is_not_a_note(
    engine: Engine, settings: Settings, load: Importer
) -> None:
    result = load(vcal(allday("b", "20260901", "燃やすごみ（A地区）")), IMPORTED)
    assert result.unmapped == []
    with Session(engine) as session:
        [day] = session.exec(select(CollectionDay)).all()
        assert (day.kinds, day.notes) == (["burnable"], [])
