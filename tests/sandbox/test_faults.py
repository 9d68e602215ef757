"""Injected faults, seen through the real SDK clients."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import aiohttp
import httpx
import pytest
import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    MessagingApi,
    MulticastRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ServiceException

from broadcaster.sandbox.testing import SandboxThread
from tests.sandbox.cast import HANAKO, KENJI, sdk_configuration

BATCH = MulticastRequest(to=[HANAKO, KENJI], messages=[TextMessage(text="土砂災害警戒情報")],
                         custom_aggregation_units=["b7"])


def test_injected_500_delivers_nothing(sandbox: SandboxThread, line_api: MessagingApi) -> None:
    sandbox.set_faults(script=["500"])
    with pytest.raises(ServiceException) as raised:
        line_api.multicast(BATCH)
    assert raised.value.status == 500
    assert sandbox.deliveries(HANAKO) == []


def test_injected_429_uses_the_rate_limit_body(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    sandbox.set_faults(script=["429"])
    with pytest.raises(ApiException) as raised:
        line_api.multicast(BATCH)
    assert raised.value.status == 429
    assert "The API rate limit has been exceeded" in raised.value.body


def test_slow_responses_are_applied_late(sandbox: SandboxThread, line_api: MessagingApi) -> None:
    sandbox.set_faults(script=["slow"], slow_ms=300)
    start = time.monotonic()
    line_api.multicast(BATCH)
    assert time.monotonic() - start >= 0.3
    assert len(sandbox.deliveries(HANAKO)) == 1


def test_drop_closes_the_connection_and_applies_nothing_sync(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    sandbox.set_faults(script=["drop"])
    with pytest.raises(urllib3.exceptions.ProtocolError):
        line_api.multicast(BATCH, x_line_retry_key=str(uuid.uuid4()))
    assert sandbox.deliveries(HANAKO) == []
    assert sandbox.totals()["faults"] == {"drop": 1}


def test_drop_closes_the_connection_and_applies_nothing_async(sandbox: SandboxThread) -> None:
    sandbox.set_faults(script=["drop"])

    async def main() -> None:
        async with AsyncApiClient(sdk_configuration(sandbox.url)) as client:
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await AsyncMessagingApi(client).multicast(BATCH, _request_timeout=5)

    asyncio.run(main())
    assert sandbox.deliveries(HANAKO) == []


def test_lost_response_applies_then_a_retry_gets_409_sync(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    sandbox.set_faults(script=["lost_response"])
    key = str(uuid.uuid4())
    with pytest.raises(urllib3.exceptions.ProtocolError):
        line_api.multicast(BATCH, x_line_retry_key=key)
    [delivery] = sandbox.deliveries(HANAKO)
    with pytest.raises(ApiException) as conflict:
        line_api.multicast(BATCH, x_line_retry_key=key)
    assert conflict.value.status == 409
    assert conflict.value.headers["x-line-accepted-request-id"] == delivery["request_id"]
    assert len(sandbox.deliveries(HANAKO)) == 1
    assert sandbox.duplicates() == []


def test_lost_response_applies_then_a_retry_gets_409_async(sandbox: SandboxThread) -> None:
    sandbox.set_faults(script=["lost_response"])
    key = str(uuid.uuid4())

    async def main() -> int:
        async with AsyncApiClient(sdk_configuration(sandbox.url)) as client:
            api = AsyncMessagingApi(client)
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await api.multicast(BATCH, x_line_retry_key=key, _request_timeout=5)
            with pytest.raises(ApiException) as conflict:
                await api.multicast(BATCH, x_line_retry_key=key, _request_timeout=5)
            return conflict.value.status

    assert asyncio.run(main()) == 409
    assert len(sandbox.deliveries(KENJI)) == 1


def test_a_script_is_consumed_in_order_then_shares_apply(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    sandbox.set_faults(script=["500", "ok", "429"])
    outcomes = []
    for _ in range(4):
        try:
            line_api.multicast(BATCH)
            outcomes.append(200)
        except ApiException as exc:
            outcomes.append(exc.status)
    assert outcomes == [500, 200, 429, 200]


def test_shares_are_drawn_from_the_seeded_random_source(
    make_sandbox: Callable[..., SandboxThread],
) -> None:
    from broadcaster.sandbox import FaultConfig

    sandbox = make_sandbox(faults=FaultConfig(error_500=0.5), seed=7)
    with ApiClient(sdk_configuration(sandbox.url)) as client:
        api = MessagingApi(client)
        statuses = []
        for _ in range(40):
            try:
                api.multicast(BATCH)
                statuses.append(200)
            except ServiceException:
                statuses.append(500)
    assert 8 <= statuses.count(500) <= 32


def test_faults_can_be_read_and_are_checked(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    sandbox.set_faults(error_429=0.25, script=["drop"])
    current = httpx.get(f"{sandbox.url}/_sandbox/faults").json()
    assert current["error_429"] == 0.25 and current["script"] == ["drop"]
    sandbox.set_faults(script=["500", "ok"])
    with pytest.raises(ServiceException):
        line_api.multicast(BATCH)
    assert httpx.get(f"{sandbox.url}/_sandbox/faults").json()["script"] == ["ok"]
    for bad in ({"error_500": 2}, {"explode": 1}, {"script": ["boom"]},
                {"error_500": 0.6, "drop": 0.6}):
        assert httpx.post(f"{sandbox.url}/_sandbox/faults", json=bad).status_code == 400


def test_faults_leave_non_sending_endpoints_alone(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    sandbox.set_faults(error_500=1.0)
    assert line_api.get_message_quota().type == "none"
