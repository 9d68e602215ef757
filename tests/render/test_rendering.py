"""What residents receive: the variant for their language, and text, location and Flex objects."""

from __future__ import annotations

from typing import Any

import pytest
from linebot.v3.messaging import FlexMessage, LocationMessage, Message, TextMessage

from broadcaster.render import PreparedTemplate, Renderer, TemplateError
from tests.render.conftest import EXAMPLES


def prepare(renderer: Renderer, name: str, **changes: Any) -> PreparedTemplate:
    return renderer.prepare(
        template_name=name, template_text=None, parameters={**EXAMPLES[name], **changes}
    )


def test_language_without_a_variant_falls_back_to_japanese(renderer: Renderer) -> None:
    prepared = prepare(renderer, "benefit_notice")
    resident = {"language": "vi"}
    assert prepared.render(resident) == prepared.render({**resident, "language": "ja"})
    assert prepared.render(resident)[0]["text"].startswith("【子育て世帯臨時特別給付金のお知らせ】")


def test_easy_japanese_and_english_variants_are_chosen(renderer: Renderer) -> None:
    prepared = prepare(renderer, "evacuation")
    easy = prepared.render({"language": "easy-ja", "district": "山間"})[0]["text"]
    english = prepared.render({"language": "en", "district": "山間"})[0]["text"]
    assert "すぐに にげてください" in easy
    assert english.startswith("[Alert Level 4] Evacuation Instruction")


def test_evacuation_order_is_text_then_the_districts_shelters(renderer: Renderer) -> None:
    prepared = prepare(renderer, "evacuation")
    messages = prepared.render({"language": "ja", "district": "山間"})
    assert messages[0]["text"].startswith("【警戒レベル4】避難指示\n")
    assert "直ちに避難してください" in messages[0]["text"]
    assert messages[1:] == [
        {"type": "location", "title": "山間小学校 体育館", "address": "山間町大字奥沢123",
         "latitude": 35.91, "longitude": 139.12}
    ]


def test_evacuation_cuts_to_five_objects_and_says_how_many_more(renderer: Renderer) -> None:
    messages = prepare(renderer, "evacuation").render({"language": "ja", "district": "中央"})
    assert [m["type"] for m in messages] == ["text", "location", "location", "location", "location"]
    assert "中央第6避難所" in messages[0]["text"]
    assert "ほか2か所" in messages[0]["text"]


def test_district_without_open_shelters_gets_text_only(renderer: Renderer) -> None:
    messages = prepare(renderer, "evacuation").render({"language": "en", "district": "北"})
    assert [m["type"] for m in messages] == ["text"]


def test_city_wide_text_depends_on_language_only(small_renderer: Renderer) -> None:
    prepared = small_renderer.prepare(
        template_name=None, template_text="{{ title }}のお知らせ", parameters={"title": "休館"}
    )
    assert prepared.resident_fields == ("language",)
    assert prepared.render({"language": "en", "district": "北"}) == [
        {"type": "text", "text": "休館のお知らせ"}
    ]


def test_resident_fields_are_what_the_template_reads(renderer: Renderer) -> None:
    assert prepare(renderer, "evacuation").resident_fields == ("district", "language")
    assert prepare(renderer, "garbage_reminder").resident_fields == ("language",)
    assert prepare(renderer, "benefit_notice").resident_fields == ("language",)


def test_passing_the_whole_resident_counts_as_reading_every_field(small_renderer: Renderer) -> None:
    prepared = small_renderer.prepare(
        template_name=None, template_text="{{ resident|length }}", parameters={}
    )
    assert prepared.resident_fields == ("district", "garbage_zone", "language", "reminder_timing")


def test_render_needs_the_fields_it_reads(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match=r"resident field\(s\) district not given"):
        prepare(renderer, "evacuation").render({"language": "ja"})


def test_location_and_flex_are_accepted_by_the_sdk(small_renderer: Renderer) -> None:
    text = (
        "{{ location('市役所', '中央町1-1', 35.68, '139.76') }}\n"
        "{% set bubble = {'type': 'bubble', 'body': {'type': 'box', 'layout': 'vertical',"
        " 'contents': [{'type': 'text', 'text': title}]}} %}"
        "{{ flex(title, bubble) }}\n"
        "{{ flex('JSONで', card) }}\n"
        "続き{{ next_message() }}最後"
    )
    card = '{"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": []}}'
    prepared = small_renderer.prepare(
        template_name=None, template_text=text, parameters={"title": "休館日", "card": card}
    )
    messages = prepared.render({"language": "ja"})
    kinds = [type(Message.from_dict(m)) for m in messages]
    assert kinds == [LocationMessage, FlexMessage, FlexMessage, TextMessage, TextMessage]
    assert messages[0]["longitude"] == 139.76
    assert messages[1]["altText"] == "休館日"
    assert [messages[3]["text"], messages[4]["text"]] == ["続き", "最後"]
    # The sixth object is one too many: refused at creation.
    six = "template text: messages: 6 message objects, LINE allows 5"
    with pytest.raises(TemplateError, match=six):
        small_renderer.prepare(
            template_name=None, template_text=text + "{{ next_message() }}もう一つ",
            parameters={"title": "休館日", "card": card},
        )


def test_parameter_text_cannot_pose_as_a_message(small_renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match="NUL"):
        small_renderer.prepare(
            template_name=None, template_text="{{ x }}", parameters={"x": "a\x00b"}
        )


def test_render_is_deterministic_and_unaffected_by_caller_changes(renderer: Renderer) -> None:
    parameters: dict[str, Any] = {
        **EXAMPLES["garbage_reminder"], "kinds": ["燃やすごみ"], "timing": "morning",
        "names": dict(EXAMPLES["garbage_reminder"]["names"]),
    }
    prepared = renderer.prepare(
        template_name="garbage_reminder.ja.j2", template_text=None, parameters=parameters
    )
    first = prepared.render({"language": "en"})
    parameters["names"]["en"] += ", paper"
    assert prepared.render({"language": "en"}) == first
    assert first[0]["text"].startswith("[Garbage] Today, Tuesday, April 7, is")


def test_none_prints_as_nothing(small_renderer: Renderer) -> None:
    prepared = small_renderer.prepare(
        template_name=None, template_text="地区: {{ resident.district }}!", parameters={}
    )
    assert prepared.render({"language": "ja", "district": None}) == [
        {"type": "text", "text": "地区: !"}
    ]
