"""X-Line-Retry-Key: accepted once, 409 afterwards, and only where LINE takes it."""

from __future__ import annotations

import uuid

import httpx
import pytest
from linebot.v3.messaging import (
    ApiException,
    ErrorResponse,
    MessagingApi,
    MulticastRequest,
    PushMessageRequest,
    TextMessage,
)

from broadcaster.sandbox.retrykeys import AcceptedKey, RetryKeyMemory
from broadcaster.sandbox.testing import SandboxThread
from tests.sandbox.cast import HANAKO, KENJI, TOKEN

AUTH = {"authorization": f"Bearer {TOKEN}"}
BATCH = MulticastRequest(to=[HANAKO, KENJI], messages=[TextMessage(text="避難指示")])


def test_a_repeated_key_gets_409_and_delivers_nothing(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    key = str(uuid.uuid4())
    first = line_api.multicast_with_http_info(BATCH, x_line_retry_key=key)
    with pytest.raises(ApiException) as conflict:
        line_api.multicast(BATCH, x_line_retry_key=key)
    assert conflict.value.status == 409
    headers = conflict.value.headers
    assert headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert headers["x-line-request-id"] != first.headers["x-line-request-id"]
    assert ErrorResponse.from_json(conflict.value.body).message == (
        "The retry key is already accepted"
    )
    assert len(sandbox.deliveries(HANAKO)) == 1
    assert sandbox.totals()["quota_used"] == 2


def test_push_conflict_repeats_the_original_sent_messages(line_api: MessagingApi) -> None:
    key = str(uuid.uuid4())
    request = PushMessageRequest(to=HANAKO, messages=[TextMessage(text="x")])
    first = line_api.push_message(request, x_line_retry_key=key)
    with pytest.raises(ApiException) as conflict:
        line_api.push_message(request, x_line_retry_key=key)
    body = ErrorResponse.from_json(conflict.value.body)
    assert body.sent_messages is not None
    assert body.sent_messages[0].id == first.sent_messages[0].id


def test_a_key_that_is_not_a_uuid_is_400(sandbox: SandboxThread, line_api: MessagingApi) -> None:
    with pytest.raises(ApiException) as refused:
        line_api.multicast(BATCH, x_line_retry_key="batch-17")
    assert refused.value.status == 400
    assert sandbox.deliveries(HANAKO) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/bot/message/reply"),
        ("POST", "/v2/bot/message/validate/push"),
        ("GET", "/v2/bot/message/quota"),
        ("GET", "/v2/bot/message/quota/consumption"),
    ],
)
def test_a_key_on_an_endpoint_that_takes_none_is_400(
    sandbox: SandboxThread, method: str, path: str
) -> None:
    headers = {**AUTH, "x-line-retry-key": str(uuid.uuid4())}
    body = {"replyToken": "x", "messages": [{"type": "text", "text": "x"}]}
    response = httpx.request(method, f"{sandbox.url}{path}", headers=headers,
                             json=body if method == "POST" else None)
    assert response.status_code == 400


def test_a_key_reused_on_another_endpoint_is_400(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    key = str(uuid.uuid4())
    line_api.push_message(PushMessageRequest(to=HANAKO, messages=[TextMessage(text="x")]),
                          x_line_retry_key=key)
    with pytest.raises(ApiException) as refused:
        line_api.multicast(BATCH, x_line_retry_key=key)
    assert refused.value.status == 400
    assert sandbox.deliveries(KENJI) == []


def test_failed_attempts_do_not_consume_the_key(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    key = str(uuid.uuid4())
    sandbox.set_faults(script=["500", "429"])
    for expected in (500, 429):
        with pytest.raises(ApiException) as failed:
            line_api.multicast(BATCH, x_line_retry_key=key)
        assert failed.value.status == expected
    # The SDK does not check text length; the sandbox (like LINE) does.
    bad = MulticastRequest(to=[HANAKO], messages=[TextMessage(text="x" * 5001)])
    with pytest.raises(ApiException) as invalid:
        line_api.multicast(bad, x_line_retry_key=key)
    assert invalid.value.status == 400
    assert line_api.multicast_with_http_info(BATCH, x_line_retry_key=key).status_code == 200
    assert len(sandbox.deliveries(HANAKO)) == 1


def test_keys_are_forgotten_after_their_ttl() -> None:
    # Pure, with time passed in: after 24 h LINE treats the same key as a new request.
    memory = RetryKeyMemory(ttl_s=24 * 3600)
    key = str(uuid.uuid4())
    memory.remember(key, AcceptedKey("multicast", "req-1", accepted_at=1000.0, sent_messages=None))
    assert memory.lookup(key, now=1000.0 + 24 * 3600 - 1) is not None
    assert memory.lookup(key, now=1000.0 + 24 * 3600) is None
    assert len(memory) == 0
