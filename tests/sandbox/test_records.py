"""What /_sandbox reports: duplicates, request log, reset."""

from __future__ import annotations

import contextlib

import httpx
from linebot.v3.messaging import ApiException, MessagingApi, MulticastRequest, TextMessage

from broadcaster.sandbox.testing import SandboxThread
from tests.sandbox.cast import EMMA, HANAKO, KENJI


def test_the_same_unit_twice_is_a_duplicate(sandbox: SandboxThread, line_api: MessagingApi) -> None:
    batch = MulticastRequest(to=[HANAKO, KENJI], messages=[TextMessage(text="a")],
                             custom_aggregation_units=["b9"])
    line_api.multicast(batch)
    line_api.multicast(batch)  # no retry key: LINE delivers it again
    other = MulticastRequest(to=[HANAKO], messages=[TextMessage(text="a")],
                             custom_aggregation_units=["b10"])
    line_api.multicast(other)
    duplicates = sandbox.duplicates()
    assert sorted((d["user_id"], d["unit"], d["count"]) for d in duplicates) == [
        (HANAKO, "b9", 2), (KENJI, "b9", 2)]
    assert sandbox.totals()["duplicates"] == 2


def test_without_units_duplicates_are_keyed_on_the_payload(
    sandbox: SandboxThread, line_api: MessagingApi
) -> None:
    line_api.multicast(MulticastRequest(to=[EMMA], messages=[TextMessage(text="same")]))
    line_api.multicast(MulticastRequest(to=[EMMA], messages=[TextMessage(text="same")]))
    line_api.multicast(MulticastRequest(to=[EMMA], messages=[TextMessage(text="other")]))
    [duplicate] = sandbox.duplicates()
    assert duplicate["count"] == 2 and duplicate["unit"].startswith("sha1:")


def test_requests_can_be_listed_by_status(sandbox: SandboxThread, line_api: MessagingApi) -> None:
    sandbox.set_faults(script=["429", "ok"])
    for _ in range(2):
        with contextlib.suppress(ApiException):
            line_api.multicast(MulticastRequest(to=[HANAKO], messages=[TextMessage(text="x")]))
    [limited] = sandbox.requests(status=429)
    assert limited["endpoint"] == "multicast"
    assert [r["status"] for r in sandbox.requests(status=200)] == [200]
    assert httpx.get(f"{sandbox.url}/_sandbox/requests?status=abc").status_code == 400


def test_reset_forgets_everything(sandbox: SandboxThread, line_api: MessagingApi) -> None:
    line_api.multicast(MulticastRequest(to=[HANAKO], messages=[TextMessage(text="x")]))
    sandbox.reset()
    totals = sandbox.totals()
    assert totals["recipients_served"] == 0 and totals["requests"] == {}
    assert totals["quota_used"] == 0
    assert sandbox.deliveries(HANAKO) == []


def test_deliveries_lookup_needs_a_user_id(sandbox: SandboxThread) -> None:
    assert httpx.post(f"{sandbox.url}/_sandbox/deliveries", json={}).status_code == 400
