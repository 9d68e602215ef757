"""Signed webhook events, checked with the SDK's own WebhookParser."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhooks import (
    FollowEvent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
)

from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxThread
from tests.sandbox.cast import EMMA, HANAKO, KENJI
from tests.sandbox.receiver import WebhookReceiver

SECRET = SandboxConfig.channel_secret


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def parse(receiver: WebhookReceiver, secret: str = SECRET) -> list[object]:
    got = receiver.received[-1]
    return list(WebhookParser(secret).parse(got.body.decode(), got.headers["x-line-signature"]))


def test_follow_event_is_signed_and_parses(sandbox: SandboxThread,
                                           receiver: WebhookReceiver) -> None:
    result = sandbox.send_webhook(type="follow", user_id=HANAKO, is_unblocked=True,
                                  url=receiver.url)
    assert result["status"] == 200
    [event] = parse(receiver)
    assert isinstance(event, FollowEvent)
    assert event.source.user_id == HANAKO
    assert event.follow.is_unblocked is True
    assert event.reply_token and event.mode == "active"
    assert len(event.webhook_event_id) == 26
    assert event.delivery_context.is_redelivery is False


def test_postback_message_and_unfollow_events(sandbox: SandboxThread,
                                              receiver: WebhookReceiver) -> None:
    sandbox.send_webhook(type="postback", user_id=KENJI, data="shelter=3", url=receiver.url)
    [postback] = parse(receiver)
    assert isinstance(postback, PostbackEvent) and postback.postback.data == "shelter=3"
    sandbox.send_webhook(type="message", user_id=EMMA, text="Where is the shelter?",
                         url=receiver.url)
    [message] = parse(receiver)
    assert isinstance(message, MessageEvent)
    assert isinstance(message.message, TextMessageContent)
    assert message.message.text == "Where is the shelter?"
    sandbox.send_webhook(type="message", user_id=EMMA, url=receiver.url,
                         location={"title": "home", "latitude": 35.1, "longitude": 135.2})
    [located] = parse(receiver)
    assert isinstance(located.message, LocationMessageContent)  # type: ignore[attr-defined]
    sandbox.send_webhook(type="unfollow", user_id=EMMA, url=receiver.url)
    [unfollow] = parse(receiver)
    assert isinstance(unfollow, UnfollowEvent)
    assert "replyToken" not in receiver.received[-1].body.decode()


def test_redelivery_resends_the_same_event_marked(sandbox: SandboxThread,
                                                  receiver: WebhookReceiver) -> None:
    first = sandbox.send_webhook(type="postback", user_id=KENJI, data="x", url=receiver.url)
    event_id = first["event"]["webhookEventId"]
    sandbox.send_webhook(redelivery_of=event_id, url=receiver.url)
    [again] = parse(receiver)
    assert again.webhook_event_id == event_id  # type: ignore[attr-defined]
    assert again.delivery_context.is_redelivery is True  # type: ignore[attr-defined]
    assert again.timestamp == first["event"]["timestamp"]  # type: ignore[attr-defined]


def test_a_forged_signature_is_rejected_by_the_sdk(sandbox: SandboxThread,
                                                   receiver: WebhookReceiver) -> None:
    sandbox.send_webhook(type="follow", user_id=HANAKO, forge_signature=True, url=receiver.url)
    with pytest.raises(InvalidSignatureError):
        parse(receiver)


def test_the_receivers_status_is_reported(sandbox: SandboxThread,
                                          receiver: WebhookReceiver) -> None:
    receiver.status = 500
    assert sandbox.send_webhook(type="follow", user_id=HANAKO, url=receiver.url)["status"] == 500


def test_an_unreachable_receiver_is_reported_not_raised(sandbox: SandboxThread) -> None:
    from broadcaster.sandbox.testing import free_port

    result = sandbox.send_webhook(type="follow", user_id=HANAKO,
                                  url=f"http://127.0.0.1:{free_port()}/x")
    assert result["status"] is None and result["error"]


def test_bad_webhook_requests_are_400(sandbox: SandboxThread) -> None:
    url = f"{sandbox.url}/_sandbox/webhooks/send"
    assert httpx.post(url, json={"type": "follow", "user_id": HANAKO}).status_code == 400  # no url
    assert httpx.post(url, json={"type": "dance", "user_id": HANAKO,
                                 "url": "http://x"}).status_code == 400
    assert httpx.post(url, json={"redelivery_of": "nope", "url": "http://x"}).status_code == 400


def test_follow_makes_a_broadcast_recipient(make_sandbox,  # type: ignore[no-untyped-def]
                                            receiver: WebhookReceiver) -> None:
    sandbox = make_sandbox(webhook_url=receiver.url)
    sandbox.send_webhook(type="follow", user_id=HANAKO)
    sandbox.send_webhook(type="follow", user_id=KENJI)
    sandbox.send_webhook(type="unfollow", user_id=KENJI)
    response = httpx.post(f"{sandbox.url}/v2/bot/message/broadcast",
                          headers={"authorization": "Bearer sandbox-token"},
                          json={"messages": [{"type": "text", "text": "x"}]})
    assert response.status_code == 200
    assert len(sandbox.deliveries(HANAKO)) == 1 and sandbox.deliveries(KENJI) == []
