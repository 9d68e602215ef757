"""The sandbox's statistics endpoints: per-unit figures (null below 20 users), units used
this month, the follower count, and their shared 60-an-hour rate limit; the aggregation
endpoints are held against LINE's OpenAPI document, the insight ones against the SDK's
own models (insight.yml is not in the shared copy)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from linebot.v3.insight import ApiClient, ApiException, Configuration, Insight

from broadcaster.sandbox.testing import SandboxThread
from tests.sandbox.cast import HANAKO, TOKEN
from tests.sandbox.test_spec import AUTH, TEXT, exchange

USERS = [f"U{n:032x}" for n in range(1, 31)]


def _insight(sandbox: SandboxThread) -> Insight:
    return Insight(ApiClient(Configuration(host=sandbox.url, access_token=TOKEN)))


def _multicast(sandbox: SandboxThread, unit: str, users: list[str]) -> None:
    response = httpx.post(f"{sandbox.url}/v2/bot/message/multicast", headers=AUTH,
                          json={"to": users, "messages": TEXT, "customAggregationUnits": [unit]})
    assert response.status_code == 200, response.text


def test_unit_statistics_are_null_below_twenty_users(
    make_sandbox: Callable[..., SandboxThread],
) -> None:
    sandbox = make_sandbox(rate_limits={"insight": 100.0})
    _multicast(sandbox, "b7", USERS)
    recorded = httpx.post(f"{sandbox.url}/_sandbox/insight/events",
                          json={"unit": "b7", "opened": USERS[:21], "clicked": USERS[:3]})
    assert recorded.json() == {"unit": "b7", "opened": 21, "clicked": 3}
    stats = _insight(sandbox).get_statistics_per_unit("b7", "20261201", "20261230")
    assert stats.overview.unique_impression == 21
    assert stats.overview.unique_click is None  # 3 users: LINE says nothing
    unknown = _insight(sandbox).get_statistics_per_unit("b8", "20261201", "20261201")
    assert unknown.overview.unique_impression is None and unknown.messages == []


def test_bad_periods_and_unit_names_are_refused(
    make_sandbox: Callable[..., SandboxThread],
) -> None:
    sandbox = make_sandbox(rate_limits={"insight": 100.0})
    api = _insight(sandbox)
    for unit, start, end in (("b7", "20261201", "20270115"), ("b7", "20261301", "20261302"),
                             ("b-7", "20261201", "20261202")):
        with pytest.raises(ApiException) as refused:
            api.get_statistics_per_unit(unit, start, end)
        assert refused.value.status == 400


def test_followers_count_everyone_who_added_and_blocks(
    make_sandbox: Callable[..., SandboxThread],
) -> None:
    sandbox = make_sandbox()
    for user in USERS[:22]:
        sandbox.send_webhook(type="follow", user_id=user, url="http://127.0.0.1:9/")
    sandbox.send_webhook(type="unfollow", user_id=USERS[0], url="http://127.0.0.1:9/")
    api = _insight(sandbox)
    followers = api.get_number_of_followers("20260101")
    assert followers.status == "ready"
    assert followers.blocks == 1 and followers.targeted_reaches == 21
    assert followers.followers == 22
    # The insight endpoints share LINE's 60 requests an hour.
    with pytest.raises(ApiException) as limited:
        api.get_number_of_followers("20260101")
    assert limited.value.status == 429


def test_aggregation_unit_endpoints_conform(make_sandbox: Callable[..., SandboxThread]) -> None:
    sandbox = make_sandbox()
    for unit in ("b1", "b2", "b3"):
        _multicast(sandbox, unit, [HANAKO])
    usage = exchange(sandbox, "GET", "/v2/bot/message/aggregation/info")
    assert usage.json() == {"numOfCustomAggregationUnits": 3}
    first = exchange(sandbox, "GET", "/v2/bot/message/aggregation/list", params={"limit": "2"})
    assert first.json()["customAggregationUnits"] == ["b1", "b2"]
    rest = exchange(sandbox, "GET", "/v2/bot/message/aggregation/list",
                    params={"limit": "2", "start": first.json()["next"]})
    assert rest.json() == {"customAggregationUnits": ["b3"]}
