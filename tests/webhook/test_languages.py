"""Every flow a resident has, played through signed webhooks in each of the seven languages:
what the sandbox recorded must be in the language they picked, first question onward."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.clock import utcnow
from broadcaster.emergency.shelters import Shelter
from broadcaster.garbage.importer import import_calendar
from broadcaster.garbage.kinds import kind_table
from broadcaster.settings import Settings
from segments import catalog
from tests.conftest import T0, line_user_id
from tests.garbage.conftest import allday, vcal
from tests.webhook.conftest import LineUser, quick_labels
from tests.webhook.test_enrollment import resident_of

KANA = re.compile(r"[\u3040-\u30ff]")
KANJI = re.compile(r"[\u4e00-\u9fff]")
# Japanese punctuation and full-width forms (、。「」【】（）) give Japanese away too.
JA_PUNCTUATION = re.compile(r"[\u3000-\u303f\uff01-\uff60]")
LANGUAGES = {
    "ja": "日本語",
    "easy-ja": "やさしい にほんご",
    "en": "English",
    "zh": "中文",
    "ko": "한국어",
    "vi": "Tiếng Việt",
    "pt": "Português",
}


def readable(messages: list[dict[str, Any]]) -> list[str]:
    """Everything a resident reads in these messages: texts, button labels, and the
    distance part of a location's address (shelter names are the city's proper nouns)."""
    found: list[str] = []
    for message in messages:
        if message["type"] == "text":
            found.append(message["text"])
        elif message["type"] == "location":
            found.append(message["address"].split("·")[0].split("・")[0])
        for item in message.get("quickReply", {}).get("items", []):
            found.append(item["action"]["label"])
            found.append(item["action"].get("displayText", ""))
    return found


def untranslated(language: str, texts: list[str]) -> list[str]:
    """Texts a reader of `language` should not have been sent (empty when all is right)."""
    if language == "ja":
        return []
    if language == "easy-ja":
        return [t for t in texts if KANJI.search(t)]  # やさしい日本語 here uses no kanji
    if language == "zh":
        return [t for t in texts if KANA.search(t)]
    return [t for t in texts if KANA.search(t) or KANJI.search(t) or JA_PUNCTUATION.search(t)]


def import_zone_b(engine: Engine, settings: Settings) -> None:
    today = datetime.now(settings.tz).date()
    soon = today + timedelta(days=2)
    later = today + timedelta(days=4)
    data = vcal(
        allday("b1", f"{soon:%Y%m%d}", "燃やすごみ"), allday("b2", f"{later:%Y%m%d}", "びん・缶")
    )
    with Session(engine) as session:
        import_calendar(session, data, settings=settings, now=utcnow(), actor="test",
                        source="test", zone="B")
        session.commit()


def add_shelters(engine: Engine) -> None:
    with Session(engine) as session:
        for name, lat in (("第一小学校", 35.010), ("市民体育館", 35.001), ("北公民館", 35.030)):
            session.add(Shelter(name=name, address=f"{name}前", district="中央", latitude=lat,
                                longitude=139.0, kinds=["洪水", "地震"], is_open=False,
                                created_at=T0, updated_at=T0))
        session.commit()


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_flow_is_in_the_language_the_resident_picked(
    language: str,
    make_user: Callable[[str], LineUser],
    engine: Engine,
    line_settings: Settings,
) -> None:
    import_zone_b(engine, line_settings)
    add_shelters(engine)
    texts = catalog.texts_for(language, line_settings.residents.labels)
    user = make_user(line_user_id(100 + list(LANGUAGES).index(language)))
    seen: list[str] = []

    def got(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen.extend(readable(messages))
        return messages

    user.send("follow")
    first = user.wait_reply()
    assert quick_labels(first) == list(LANGUAGES.values())
    district_question = got(user.tap(first, LANGUAGES[language]))
    assert district_question[0]["text"] == texts("welcome.thanks", count=4)
    zone_question = got(user.tap(district_question, texts.label("中央")))
    reminder_question = got(user.tap(zone_question, "B"))
    interests = got(user.tap(reminder_question, quick_labels(reminder_question)[0]))
    interests = got(user.tap(interests, texts.label("防災")))
    done = got(user.tap(interests, texts("button.done")))
    assert texts("summary.district", value=texts.label("中央")) in done[-1]["text"]
    assert texts("summary.language", value=LANGUAGES[language]) in done[-1]["text"]

    # 配信停止 in the resident's own words, and its list.
    user.send("message", text=texts.word("stop"))
    stops = got(user.wait_reply())
    stops = got(user.tap(stops, texts.category("garbage")))
    got(user.tap(stops, texts("button.done")))
    # 「ごみ」: the next collection days of zone B.
    user.send("message", text=texts.word("garbage"))
    [garbage] = got(user.wait_reply())
    assert garbage["text"].splitlines()[0] == texts("garbage.header", zone="B")
    assert kind_table(line_settings).name("burnable", language) in garbage["text"]
    # 避難所: a location asked for, then the nearest shelters for a shared location.
    user.send("message", text=texts.word("shelters"))
    got(user.wait_reply())
    user.send("message", location={"title": "", "address": "", "latitude": 35.0,
                                   "longitude": 139.0})
    shelters = got(user.wait_reply())
    assert shelters[0]["text"] == texts("shelters.designated")
    # Any other text: the help, still in the resident's language.
    user.send("message", text="???")
    got(user.wait_reply())

    assert untranslated(language, seen) == []
    resident = resident_of(engine, user.user_id)
    assert resident is not None and resident.language == language


def test_every_catalog_has_every_text_of_the_japanese_one() -> None:
    assert set(catalog.languages()) == set(LANGUAGES)
    for language in LANGUAGES:
        assert catalog.missing_keys(language) == [], language


def test_every_placeholder_of_a_japanese_text_is_in_each_translation() -> None:
    fields = re.compile(r"{(\w+)}")
    reference = catalog._flat("ja")
    for language in LANGUAGES:
        own = catalog._flat(language)
        for key, text in reference.items():
            if isinstance(text, str) and key in own:
                assert set(fields.findall(own[key])) <= set(fields.findall(text)) | {"mm"}, (
                    language, key)


def test_a_language_can_be_changed_at_any_time_with_a_word_in_any_language(
    make_user: Callable[[str], LineUser], engine: Engine
) -> None:
    user = make_user(line_user_id(120))
    user.tap(user.follow("English"), "Chuo (Central)")
    for word in ("言語", "ことば", "LANGUAGE", "语言", "언어", "Ngôn ngữ", "idioma"):
        user.send("message", text=word)
        choose = user.wait_reply()
        assert quick_labels(choose) == list(LANGUAGES.values()), word
    done = user.tap(choose, "やさしい にほんご")
    assert done[0]["text"].startswith("ことばを「やさしい にほんご」に しました。")
    assert "ちいき: ちゅうおう" in done[0]["text"]
    resident = resident_of(engine, user.user_id)
    assert resident is not None and resident.language == "easy-ja"
    # The other choices were kept: nothing was asked again.
    assert resident.district == "中央" and resident.enrollment_step is None
