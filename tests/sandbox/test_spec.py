"""The sandbox held against LINE's official OpenAPI documents (../shared/line-openapi).

Each exchange is made over real HTTP, then the request and the sandbox's response are
validated with openapi-core as if they had gone to https://api.line.me.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from broadcaster.sandbox.testing import SandboxThread
from tests.sandbox.cast import HANAKO, KENJI, TOKEN
from tests.sandbox.receiver import WebhookReceiver

SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "line-openapi"

pytestmark = pytest.mark.skipif(
    not (SPEC_DIR / "messaging-api.yml").exists(),
    reason=f"LINE's OpenAPI documents are not at {SPEC_DIR} (the shared folder beside the repo)",
)

openapi_core = pytest.importorskip("openapi_core")
from openapi_core.testing import MockRequest, MockResponse  # noqa: E402

AUTH = {"Authorization": f"Bearer {TOKEN}"}
TEXT = [{"type": "text", "text": "燃えないごみの日です"}]


@cache
def spec(name: str) -> Any:
    return openapi_core.OpenAPI.from_file_path(str(SPEC_DIR / name))


def exchange(
    sandbox: SandboxThread,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """Send over HTTP, then validate request and response against messaging-api.yml."""
    all_headers = {**AUTH, **(headers or {})}
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    response = httpx.request(method, sandbox.url + path, headers=all_headers, content=data,
                             params=params)
    request = MockRequest("https://api.line.me", method.lower(), path, args=params or {},
                          headers=all_headers, data=data)
    spec("messaging-api.yml").validate_request(request)
    spec("messaging-api.yml").validate_response(
        request,
        MockResponse(response.content, status_code=response.status_code,
                     headers=dict(response.headers),
                     content_type=response.headers.get("content-type", "application/json")),
    )
    return response


def test_sending_endpoints_conform(make_sandbox: Callable[..., SandboxThread]) -> None:
    sandbox = make_sandbox(followers=[HANAKO])
    key = {"X-Line-Retry-Key": str(uuid.uuid4())}
    assert exchange(sandbox, "POST", "/v2/bot/message/push",
                    {"to": HANAKO, "messages": TEXT}, key).status_code == 200
    assert exchange(sandbox, "POST", "/v2/bot/message/multicast",
                    {"to": [HANAKO, KENJI], "messages": TEXT,
                     "customAggregationUnits": ["b1"]}).status_code == 200
    assert exchange(sandbox, "POST", "/v2/bot/message/broadcast",
                    {"messages": TEXT}).status_code == 200
    narrowcast = exchange(sandbox, "POST", "/v2/bot/message/narrowcast", {"messages": TEXT})
    assert narrowcast.status_code == 202
    progress = exchange(sandbox, "GET", "/v2/bot/message/progress/narrowcast",
                        params={"requestId": narrowcast.headers["x-line-request-id"]})
    assert progress.json()["phase"] == "succeeded"


def test_quota_and_validate_endpoints_conform(make_sandbox: Callable[..., SandboxThread]) -> None:
    for quota in (None, 1000):
        sandbox = make_sandbox(monthly_quota=quota)
        exchange(sandbox, "GET", "/v2/bot/message/quota")
        exchange(sandbox, "GET", "/v2/bot/message/quota/consumption")
        for kind in ("push", "multicast", "broadcast", "narrowcast", "reply"):
            assert exchange(sandbox, "POST", f"/v2/bot/message/validate/{kind}",
                            {"messages": TEXT}).status_code == 200


def test_error_bodies_conform(make_sandbox: Callable[..., SandboxThread]) -> None:
    sandbox = make_sandbox(monthly_quota=1)
    key = {"X-Line-Retry-Key": str(uuid.uuid4())}
    push = {"to": HANAKO, "messages": TEXT}
    exchange(sandbox, "POST", "/v2/bot/message/push", push, key)
    conflict = exchange(sandbox, "POST", "/v2/bot/message/push", push, key)
    assert conflict.status_code == 409 and conflict.json()["sentMessages"]
    assert exchange(sandbox, "POST", "/v2/bot/message/push", push).status_code == 429
    bad = exchange(sandbox, "POST", "/v2/bot/message/multicast",
                   {"to": [HANAKO], "messages": [{"type": "text", "text": "x" * 5001}]})
    assert bad.status_code == 400 and bad.json()["details"]


def test_webhook_payloads_conform_to_callback_request(sandbox: SandboxThread) -> None:
    with WebhookReceiver() as receiver:
        for event in ({"type": "follow"}, {"type": "unfollow"},
                      {"type": "postback", "data": "a=1"}, {"type": "message", "text": "hi"},
                      {"type": "message", "location": {"title": "t", "address": "a",
                                                        "latitude": 35.0, "longitude": 135.0}}):
            sandbox.send_webhook(user_id=KENJI, url=receiver.url, **event)
        first_id = json.loads(receiver.received[0].body)["events"][0]["webhookEventId"]
        sandbox.send_webhook(redelivery_of=first_id, url=receiver.url)
        for got in receiver.received:
            request = MockRequest("https://example.com", "post", "/callback", data=got.body,
                                  headers={"Content-Type": "application/json",
                                           "x-line-signature": got.headers["x-line-signature"]})
            spec("webhook.yml").validate_request(request)
