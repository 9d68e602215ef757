"""Happy paths through the real line-bot-sdk, sync and async, read back via /_sandbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
import pytest
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    BroadcastRequest,
    FlexBox,
    FlexBubble,
    FlexMessage,
    FlexText,
    LocationMessage,
    MessagingApi,
    MulticastRequest,
    NarrowcastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
    ValidateMessageRequest,
)

from broadcaster.sandbox.testing import SandboxThread
from tests.sandbox.cast import EMMA, HANAKO, KENJI, TOKEN, sdk_configuration


def test_push_returns_sent_messages_and_is_recorded(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    response = line_api.push_message_with_http_info(
        PushMessageRequest(to=HANAKO, messages=[TextMessage(text="燃えるごみは明日です")])
    )
    assert response.status_code == 200
    assert uuid.UUID(response.headers["x-line-request-id"])
    sent = response.data.sent_messages
    assert len(sent) == 1 and sent[0].id and sent[0].quote_token
    [delivery] = sandbox.deliveries(HANAKO)
    assert delivery["endpoint"] == "push"
    assert delivery["messages"] == [{"type": "text", "text": "燃えるごみは明日です"}]
    assert delivery["request_id"] == response.headers["x-line-request-id"]


def test_multicast_reaches_every_recipient_with_units(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    response = line_api.multicast_with_http_info(
        MulticastRequest(
            to=[HANAKO, KENJI, EMMA],
            messages=[TextMessage(text="避難所が開設されました"), LocationMessage(
                title="中央小学校", address="中央1-1", latitude=35.0, longitude=135.0)],
            custom_aggregation_units=["b42"],
        ),
        x_line_retry_key=str(uuid.uuid4()),
    )
    assert response.status_code == 200
    assert response.raw_data == "{}"
    for user in (HANAKO, KENJI, EMMA):
        [delivery] = sandbox.deliveries(user)
        assert delivery["custom_aggregation_units"] == ["b42"]
        assert len(delivery["messages"]) == 2
    totals = sandbox.totals()
    assert totals["recipients_served"] == 3
    assert totals["messages_delivered"] == 6
    assert totals["distinct_users"] == 3
    assert totals["requests"]["multicast"] == {"200": 1}


def test_async_client_multicasts_and_pushes(sandbox: SandboxThread) -> None:
    async def main() -> None:
        async with AsyncApiClient(sdk_configuration(sandbox.url)) as client:
            api = AsyncMessagingApi(client)
            await api.multicast(
                MulticastRequest(to=[HANAKO, KENJI], messages=[TextMessage(text="a")]),
                x_line_retry_key=str(uuid.uuid4()),
                _request_timeout=5,
            )
            pushed = await api.push_message(
                PushMessageRequest(to=EMMA, messages=[TextMessage(text="Evacuate")]),
                _request_timeout=5,
            )
            assert pushed.sent_messages[0].id

    asyncio.run(main())
    assert sandbox.totals()["recipients_served"] == 3
    assert sandbox.deliveries(EMMA)[0]["messages"][0]["text"] == "Evacuate"


def test_flex_message_is_accepted(sandbox: SandboxThread, line_api: MessagingApi) -> None:
    bubble = FlexBubble(body=FlexBox(layout="vertical", contents=[FlexText(text="ごみ")]))
    line_api.push_message(PushMessageRequest(to=KENJI, messages=[
        FlexMessage(alt_text="収集日", contents=bubble)]))
    assert sandbox.deliveries(KENJI)[0]["messages"][0]["type"] == "flex"


def test_broadcast_and_narrowcast_reach_known_followers(
    make_sandbox: Callable[..., SandboxThread],
) -> None:
    sandbox = make_sandbox(followers=[HANAKO, KENJI])
    with ApiClient(sdk_configuration(sandbox.url)) as client:
        api = MessagingApi(client)
        broadcast = api.broadcast_with_http_info(
            BroadcastRequest(messages=[TextMessage(text="全市民へ")])
        )
        assert (broadcast.status_code, broadcast.raw_data) == (200, "{}")
        narrowcast = api.narrowcast_with_http_info(
            NarrowcastRequest(messages=[TextMessage(text="一部へ")])
        )
        assert narrowcast.status_code == 202
        progress = api.get_narrowcast_progress(narrowcast.headers["x-line-request-id"])
        assert progress.phase == "succeeded" and progress.success_count == 2
    assert [d["endpoint"] for d in sandbox.deliveries(HANAKO)] == ["broadcast", "narrowcast"]
    assert sandbox.deliveries(EMMA) == []
    assert sandbox.totals()["quota_used"] == 4


def test_quota_endpoints_report_type_and_usage(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    assert line_api.get_message_quota().type == "none"
    line_api.multicast(MulticastRequest(to=[HANAKO, KENJI], messages=[TextMessage(text="x")]))
    assert line_api.get_message_quota_consumption().total_usage == 2


def test_validate_endpoints_accept_good_and_refuse_bad_messages(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    good = ValidateMessageRequest(messages=[TextMessage(text="ok")])
    for call in (line_api.validate_push, line_api.validate_multicast, line_api.validate_broadcast,
                 line_api.validate_narrowcast, line_api.validate_reply):
        call(good)
    bad = httpx.post(
        f"{sandbox.url}/v2/bot/message/validate/push",
        headers={"authorization": f"Bearer {TOKEN}"},
        json={"messages": [{"type": "text", "text": ""}]},
    )
    assert bad.status_code == 400
    assert bad.json()["details"] == [
        {"message": "May not be empty", "property": "messages[0].text"}
    ]
    assert sandbox.totals()["recipients_served"] == 0


def test_reply_uses_a_token_from_a_webhook_event_once(
    sandbox: SandboxThread, line_api: MessagingApi, webhook_receiver: str
) -> None:
    sent = sandbox.send_webhook(type="postback", user_id=KENJI, data="action=ack",
                                url=webhook_receiver)
    token = sent["event"]["replyToken"]
    reply = line_api.reply_message(
        ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="受け付けました")])
    )
    assert reply.sent_messages[0].id
    [delivery] = sandbox.deliveries(KENJI)
    assert delivery["endpoint"] == "reply"
    assert sandbox.totals()["quota_used"] == 0  # replies are free
    with pytest.raises(ApiException) as used:
        line_api.reply_message(ReplyMessageRequest(reply_token=token,
                                                   messages=[TextMessage(text="again")]))
    assert used.value.status == 400
    assert '"Invalid reply token"' in used.value.body


def test_unknown_reply_token_is_refused(sandbox: SandboxThread, line_api: MessagingApi) -> None:
    with pytest.raises(ApiException) as refused:
        line_api.reply_message(ReplyMessageRequest(reply_token="f" * 32,
                                                   messages=[TextMessage(text="x")]))
    assert refused.value.status == 400


@pytest.mark.parametrize("header", [None, "Bearer wrong", "sandbox-token"])
def test_bad_or_missing_token_is_401_with_lines_body(
    sandbox: SandboxThread, header: str | None
) -> None:
    headers = {"authorization": header} if header else {}
    response = httpx.post(f"{sandbox.url}/v2/bot/message/push", headers=headers,
                          json={"to": HANAKO, "messages": [{"type": "text", "text": "x"}]})
    assert response.status_code == 401
    assert response.json() == {"message": (
        "Authentication failed. Confirm that the access token in the authorization header "
        "is valid.")}
    assert response.headers["x-line-request-id"]
    assert sandbox.deliveries(HANAKO) == []


def test_sdk_raises_unauthorized_for_a_wrong_token(sandbox: SandboxThread) -> None:
    with (
        ApiClient(sdk_configuration(sandbox.url, token="nope")) as client,
        pytest.raises(ApiException) as raised,
    ):
        MessagingApi(client).get_message_quota()
    assert raised.value.status == 401


def test_every_response_carries_a_request_id(sandbox: SandboxThread) -> None:
    for response in (
        httpx.get(f"{sandbox.url}/v2/bot/message/nothing-here"),
        httpx.get(f"{sandbox.url}/v2/bot/message/push"),  # wrong method
        httpx.post(f"{sandbox.url}/v2/bot/message/validate/push", content=b"{}"),
    ):
        assert uuid.UUID(response.headers["x-line-request-id"])
