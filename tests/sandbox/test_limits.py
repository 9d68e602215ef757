"""LINE's documented limits, sent raw where the SDK would refuse them client-side."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pydantic.v1
import pytest
from linebot.v3.messaging import MulticastRequest, TextMessage

from broadcaster.sandbox.testing import SandboxThread
from tests.sandbox.cast import HANAKO, TOKEN

AUTH = {"authorization": f"Bearer {TOKEN}"}


def post(sandbox: SandboxThread, endpoint: str, body: Any) -> httpx.Response:
    return httpx.post(f"{sandbox.url}/v2/bot/message/{endpoint}", headers=AUTH, json=body)


def text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


def users(n: int) -> list[str]:
    return [f"U{i:032x}" for i in range(n)]


def test_500_recipients_pass_and_501_are_refused(sandbox: SandboxThread) -> None:
    accepted = post(sandbox, "multicast", {"to": users(500), "messages": [text("x")]})
    assert accepted.status_code == 200
    refused = post(sandbox, "multicast", {"to": users(501), "messages": [text("x")]})
    assert refused.status_code == 400
    assert refused.json()["details"][0]["property"] == "to"
    assert sandbox.totals()["recipients_served"] == 500


def test_the_sdk_itself_refuses_501_recipients() -> None:
    with pytest.raises(pydantic.v1.ValidationError):
        MulticastRequest(to=users(501), messages=[TextMessage(text="x")])


def test_six_messages_are_refused(sandbox: SandboxThread) -> None:
    response = post(sandbox, "push", {"to": HANAKO, "messages": [text("x")] * 6})
    assert response.status_code == 400
    assert response.json() == {
        "message": "The request body has 1 error(s)",
        "details": [{"message": "Size must be at most 5", "property": "messages"}],
    }


def test_no_messages_are_refused(sandbox: SandboxThread) -> None:
    assert post(sandbox, "push", {"to": HANAKO, "messages": []}).status_code == 400


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("あ" * 5000, True),
        ("a" * 5001, False),
        ("😀" * 2500, True),  # an emoji is two UTF-16 units: exactly 5,000
        ("😀" * 2500 + "a", False),  # 5,001 units although only 2,501 characters
    ],
)
def test_text_is_limited_to_5000_utf16_units(sandbox: SandboxThread, value: str, ok: bool) -> None:
    response = post(sandbox, "push", {"to": HANAKO, "messages": [text(value)]})
    assert response.status_code == (200 if ok else 400)
    if not ok:
        assert response.json()["details"] == [
            {"message": "Length must be between 0 and 5000", "property": "messages[0].text"}
        ]


def test_location_title_over_100_is_refused(sandbox: SandboxThread) -> None:
    message = {"type": "location", "title": "t" * 101, "address": "a", "latitude": 35.0,
               "longitude": 135.0}
    response = post(sandbox, "push", {"to": HANAKO, "messages": [message]})
    assert response.json()["details"][0]["property"] == "messages[0].title"


def test_flex_alt_text_over_1500_is_refused(sandbox: SandboxThread) -> None:
    bubble = {"type": "bubble", "body": {"type": "box", "layout": "vertical",
                                          "contents": [{"type": "text", "text": "x"}]}}
    message = {"type": "flex", "altText": "a" * 1501, "contents": bubble}
    response = post(sandbox, "push", {"to": HANAKO, "messages": [message]})
    assert response.json()["details"][0]["property"] == "messages[0].altText"


def test_fourteen_quick_reply_items_are_refused(sandbox: SandboxThread) -> None:
    item = {"type": "action", "action": {"type": "postback", "label": "ok", "data": "x"}}
    message = {**text("x"), "quickReply": {"items": [item] * 14}}
    response = post(sandbox, "push", {"to": HANAKO, "messages": [message]})
    assert response.status_code == 400
    assert response.json()["details"][0]["property"] == "messages[0].quickReply.items"


def test_missing_text_names_the_property(sandbox: SandboxThread) -> None:
    response = post(sandbox, "push", {"to": HANAKO, "messages": [{"type": "text"}]})
    assert response.json()["details"] == [
        {"message": "must be specified", "property": "messages[0].text"}
    ]


def test_unknown_message_type_is_refused(sandbox: SandboxThread) -> None:
    response = post(sandbox, "push", {"to": HANAKO, "messages": [{"type": "hologram"}]})
    assert response.status_code == 400
    assert response.json()["details"][0]["property"] == "messages[0].type"


def test_multicast_takes_user_ids_only(sandbox: SandboxThread) -> None:
    group = "C" + "0" * 32
    response = post(sandbox, "multicast", {"to": [HANAKO, group, "tanaka"],
                                           "messages": [text("x")]})
    assert response.status_code == 400
    assert [d["property"] for d in response.json()["details"]] == ["to[1]", "to[2]"]


def test_too_many_aggregation_units_are_refused(sandbox: SandboxThread) -> None:
    response = post(sandbox, "multicast", {"to": [HANAKO], "messages": [text("x")],
                                           "customAggregationUnits": ["a", "b"]})
    assert response.json()["details"][0]["property"] == "customAggregationUnits"


def test_invalid_json_is_400(sandbox: SandboxThread) -> None:
    response = httpx.post(f"{sandbox.url}/v2/bot/message/push", headers=AUTH,
                          content=b'{"to": "U1", "messages": [')
    assert response.status_code == 400
    assert response.json()["message"]


def test_a_body_over_2mb_is_413(sandbox: SandboxThread) -> None:
    body = json.dumps({"to": HANAKO, "messages": [text("x")]}).encode()
    padded = body[:-1] + b" " * (2 * 1024 * 1024 + 1 - len(body)) + b"}"
    assert len(padded) == 2 * 1024 * 1024 + 1
    response = httpx.post(f"{sandbox.url}/v2/bot/message/push", headers=AUTH, content=padded)
    assert response.status_code == 413
    exactly = body[:-1] + b" " * (2 * 1024 * 1024 - len(body)) + b"}"
    ok = httpx.post(f"{sandbox.url}/v2/bot/message/push", headers=AUTH, content=exactly)
    assert ok.status_code == 200


def test_a_chunked_body_over_2mb_is_413_too(sandbox: SandboxThread) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(3):
            yield b" " * (1024 * 1024)

    response = httpx.post(f"{sandbox.url}/v2/bot/message/push", headers=AUTH, content=chunks())
    assert response.status_code == 413
