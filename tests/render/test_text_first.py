"""Text first: a message whose key information is only in pictures is refused with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from broadcaster.limits import MessageLimitError, check_messages, check_text_first

IMAGE = {
    "type": "image",
    "originalContentUrl": "https://www.city.example.lg.jp/a.png",
    "previewImageUrl": "https://www.city.example.lg.jp/a-small.png",
}
PICTURE_CARD: dict[str, Any] = {
    "type": "bubble",
    "hero": {"type": "image", "url": "https://www.city.example.lg.jp/poster.png",
             "size": "full"},
}
TEXT_CARD: dict[str, Any] = {
    "type": "bubble",
    "body": {"type": "box", "layout": "vertical",
             "contents": [{"type": "text", "text": "4月10日 健康診断"}]},
}


def flex(alt: str, contents: dict[str, Any]) -> dict[str, Any]:
    return {"type": "flex", "altText": alt, "contents": contents}


def test_images_alone_are_refused_with_the_reason() -> None:
    with pytest.raises(MessageLimitError) as caught:
        check_messages([IMAGE])
    [problem] = caught.value.problems
    assert problem.path == "messages"
    assert "only in images" in problem.message and "add a text message" in problem.message


def test_an_image_with_a_text_saying_it_passes() -> None:
    check_messages([IMAGE, {"type": "text", "text": "4月10日は健康診断です"}])


def test_a_flex_card_of_pictures_alone_is_refused_a_card_with_text_passes() -> None:
    assert [p.path for p in check_text_first([flex("健康診断のお知らせ", PICTURE_CARD)])] == [
        "messages"]
    assert check_text_first([flex("4月10日 健康診断", TEXT_CARD)]) == []


def test_a_placeholder_alt_text_is_refused_naming_the_field() -> None:
    [problem] = check_text_first([flex("Flex Message", TEXT_CARD)])
    assert problem.path == "messages[0].altText" and "says nothing" in problem.message
    assert check_text_first([flex(" 画像 ", TEXT_CARD)])[0].path == "messages[0].altText"
