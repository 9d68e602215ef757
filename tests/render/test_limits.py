"""LINE's limits, checked in one place, name the message index and field."""

from __future__ import annotations

from typing import Any

import pytest

from broadcaster.limits import MessageLimitError, check_messages


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def problem(messages: list[dict[str, Any]]) -> str:
    with pytest.raises(MessageLimitError) as caught:
        check_messages(messages)
    return str(caught.value)


def test_text_of_5000_utf16_units_is_accepted_5001_is_not() -> None:
    check_messages([text("あ" * 5000)])
    assert problem([text("あ" * 5001)]) == "messages[0].text: 5,001 UTF-16 units, LINE allows 5,000"


def test_an_emoji_counts_as_two_units() -> None:
    check_messages([text("🚨" * 2500)])
    assert problem([text("ok"), text("🚨" * 2500 + "a")]).startswith(
        "messages[1].text: 5,001 UTF-16 units"
    )


def test_blank_text_is_refused() -> None:
    assert problem([text("  \n ")]) == "messages[0].text: must not be empty"


def test_one_to_five_objects() -> None:
    check_messages([text("a")] * 5)
    assert problem([text("a")] * 6) == "messages: 6 message objects, LINE allows 5"
    assert "nothing to send" in problem([])


def location(**changes: Any) -> dict[str, Any]:
    return {"type": "location", "title": "避難所", "address": "中央町1-1",
            "latitude": 35.6, "longitude": 139.7, **changes}


def test_location_title_and_address_at_most_100() -> None:
    check_messages([location(title="あ" * 100)])
    assert problem([location(title="あ" * 101)]) == (
        "messages[0].title: 101 UTF-16 units, LINE allows 100"
    )
    assert problem([location(address="x" * 150)]).startswith("messages[0].address: 150")


def test_location_coordinates_must_be_on_earth() -> None:
    assert "messages[0].latitude" in problem([location(latitude=91.0)])
    assert "messages[0].longitude" in problem([location(longitude=-180.5)])


def bubble(filler: int = 0) -> dict[str, Any]:
    return {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": [
        {"type": "text", "text": "x" * filler or "x"}]}}


def test_flex_bubble_json_at_most_30_kb() -> None:
    check_messages([{"type": "flex", "altText": "お知らせ", "contents": bubble(29_000)}])
    message = problem([{"type": "flex", "altText": "お知らせ", "contents": bubble(31_000)}])
    assert message.startswith("messages[0].contents: 31,")
    assert "LINE allows 30,000" in message


def test_flex_alt_text_and_carousel_size() -> None:
    assert "messages[0].altText: 1,501" in problem(
        [{"type": "flex", "altText": "a" * 1501, "contents": bubble()}]
    )
    carousel = {"type": "carousel", "contents": [bubble()] * 13}
    assert "13 bubbles, LINE allows 12" in problem(
        [{"type": "flex", "altText": "a", "contents": carousel}]
    )


def test_the_sdk_refuses_malformed_objects_with_their_path() -> None:
    assert problem([{"type": "location", "title": "a"}]).startswith("messages[0].address")
    assert "unknown message type 'banner'" in problem([{"type": "banner"}])


def test_a_property_line_does_not_know_is_refused() -> None:
    contents = {"type": "bubble", "body": {"type": "box", "layout": "vertical",
                                           "colour": "red", "contents": []}}
    assert problem([{"type": "flex", "altText": "a", "contents": contents}]) == (
        "messages[0].contents.body.colour: unknown property, LINE does not know it"
    )


def test_quick_reply_at_most_13_items() -> None:
    item = {"type": "action", "action": {"type": "location", "label": "現在地"}}
    check_messages([{**text("a"), "quickReply": {"items": [item] * 13}}])
    assert "messages[0].quickReply.items" in problem(
        [{**text("a"), "quickReply": {"items": [item] * 14}}]
    )
