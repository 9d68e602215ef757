"""Per-endpoint token buckets and the monthly quota."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    MessagingApi,
    MulticastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
)

from broadcaster.pacing import AsyncTokenBucket
from broadcaster.sandbox.testing import SandboxThread
from tests.sandbox.cast import EMMA, HANAKO, KENJI, TOKEN, sdk_configuration

AUTH = {"authorization": f"Bearer {TOKEN}"}
BODY = {"to": [HANAKO], "messages": [{"type": "text", "text": "x"}]}
RATE_LIMITED = {"message": "The API rate limit has been exceeded. Try again later."}


def test_bursting_past_the_bucket_gets_429_with_lines_message(
    make_sandbox: Callable[..., SandboxThread],
) -> None:
    # Three tokens in the bucket and one more every 100 s: a burst of ten gets exactly three
    # through however slow this machine is.
    sandbox = make_sandbox(rate_limits={"multicast": 0.01}, bucket_capacity={"multicast": 3})
    with httpx.Client(base_url=sandbox.url, headers=AUTH) as client:
        responses = [client.post("/v2/bot/message/multicast", json=BODY) for _ in range(10)]
    assert [r.status_code for r in responses] == [200] * 3 + [429] * 7
    assert responses[-1].json() == RATE_LIMITED
    assert len(sandbox.requests(status=429)) == 7
    assert len(sandbox.deliveries(HANAKO)) == 3


def test_rate_limits_are_per_endpoint(make_sandbox: Callable[..., SandboxThread]) -> None:
    sandbox = make_sandbox(rate_limits={"multicast": 0.01}, bucket_capacity={"multicast": 1})
    with httpx.Client(base_url=sandbox.url, headers=AUTH) as client:
        assert client.post("/v2/bot/message/multicast", json=BODY).status_code == 200
        assert client.post("/v2/bot/message/multicast", json=BODY).status_code == 429
        push = {"to": HANAKO, "messages": BODY["messages"]}
        assert client.post("/v2/bot/message/push", json=push).status_code == 200


def test_a_client_paced_below_the_limit_never_sees_429(
    make_sandbox: Callable[..., SandboxThread],
) -> None:
    # The server allows 20/s with a burst of 5; ten unpaced requests would overrun it. Paced
    # at 10/s, requests could bunch up by 0.4 s on a loaded machine and still pass.
    sandbox = make_sandbox(rate_limits={"multicast": 20}, bucket_capacity={"multicast": 5})

    async def main() -> list[int]:
        pacer = AsyncTokenBucket(rate=10, capacity=1)
        async with httpx.AsyncClient(base_url=sandbox.url, headers=AUTH) as client:

            async def send() -> int:
                await pacer.acquire()
                response = await client.post("/v2/bot/message/multicast", json=BODY)
                return response.status_code

            return list(await asyncio.gather(*(send() for _ in range(10))))

    assert asyncio.run(main()) == [200] * 10


def test_the_monthly_quota_counts_recipients(make_sandbox: Callable[..., SandboxThread]) -> None:
    sandbox = make_sandbox(monthly_quota=3)
    with ApiClient(sdk_configuration(sandbox.url)) as client:
        api = MessagingApi(client)
        quota = api.get_message_quota()
        assert (quota.type, quota.value) == ("limited", 3)
        api.multicast(MulticastRequest(to=[HANAKO, KENJI], messages=[TextMessage(text="a")]))
        try:
            api.multicast(MulticastRequest(to=[HANAKO, EMMA], messages=[TextMessage(text="b")]))
            raise AssertionError("expected 429")
        except ApiException as exc:
            assert exc.status == 429
            assert '"You have reached your monthly limit."' in exc.body
        api.push_message(PushMessageRequest(to=EMMA, messages=[TextMessage(text="c")]))
        assert api.get_message_quota_consumption().total_usage == 3
    assert sandbox.deliveries(EMMA)[0]["messages"][0]["text"] == "c"


def test_replies_work_when_the_quota_is_spent(
    make_sandbox: Callable[..., SandboxThread], webhook_receiver: str
) -> None:
    sandbox = make_sandbox(monthly_quota=0)
    token = sandbox.send_webhook(type="message", user_id=KENJI, text="ごみの日は?",
                                 url=webhook_receiver)["event"]["replyToken"]
    with ApiClient(sdk_configuration(sandbox.url)) as client:
        MessagingApi(client).reply_message(
            ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="火曜日です")]))
    assert sandbox.totals()["quota_used"] == 0
