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


def _exchange_raw(sandbox: SandboxThread, method: str, path: str, content: bytes,
                  content_type: str, server: str) -> httpx.Response:
    """Like `exchange`, for a binary body sent to `server` (LINE's api-data host)."""
    headers = {**AUTH, "Content-Type": content_type}
    response = httpx.request(method, sandbox.url + path, headers=headers, content=content)
    request = MockRequest(server, method.lower(), path, headers=headers, data=content)
    spec("messaging-api.yml").validate_request(request)
    spec("messaging-api.yml").validate_response(
        request,
        MockResponse(response.content, status_code=response.status_code,
                     headers=dict(response.headers),
                     content_type=response.headers.get("content-type", "application/json")),
    )
    return response


def test_rich_menu_endpoints_conform(sandbox: SandboxThread) -> None:
    import io

    from PIL import Image

    menu = {
        "size": {"width": 2500, "height": 843}, "selected": False, "name": "normal en",
        "chatBarText": "Menu",
        "areas": [{"bounds": {"x": 0, "y": 0, "width": 2500, "height": 843},
                   "action": {"type": "postback", "data": "action=settings",
                              "label": "Settings"}}],
    }
    created = exchange(sandbox, "POST", "/v2/bot/richmenu", menu)
    menu_id = created.json()["richMenuId"]
    image = io.BytesIO()
    Image.new("RGB", (2500, 843)).save(image, format="PNG")
    assert _exchange_raw(sandbox, "POST", f"/v2/bot/richmenu/{menu_id}/content",
                         image.getvalue(), "image/png",
                         "https://api-data.line.me").status_code == 200
    assert exchange(sandbox, "GET", f"/v2/bot/richmenu/{menu_id}").json()["name"] == "normal en"
    assert exchange(sandbox, "GET", "/v2/bot/richmenu/list").json()["richmenus"]
    exchange(sandbox, "POST", f"/v2/bot/user/all/richmenu/{menu_id}")
    assert exchange(sandbox, "GET", "/v2/bot/user/all/richmenu").json()["richMenuId"] == menu_id
    exchange(sandbox, "POST", f"/v2/bot/user/{HANAKO}/richmenu/{menu_id}")
    assert exchange(sandbox, "GET", f"/v2/bot/user/{HANAKO}/richmenu").json() == {
        "richMenuId": menu_id}
    exchange(sandbox, "DELETE", f"/v2/bot/user/{HANAKO}/richmenu")
    assert exchange(sandbox, "POST", "/v2/bot/richmenu/bulk/link",
                    {"richMenuId": menu_id, "userIds": [HANAKO, KENJI]}).status_code == 202
    assert exchange(sandbox, "POST", "/v2/bot/richmenu/bulk/unlink",
                    {"userIds": [KENJI]}).status_code == 202
    assert exchange(sandbox, "POST", "/v2/bot/richmenu/batch",
                    {"operations": [{"type": "unlink", "from": menu_id}]}).status_code == 202
    exchange(sandbox, "DELETE", "/v2/bot/user/all/richmenu")
    exchange(sandbox, "DELETE", f"/v2/bot/richmenu/{menu_id}")
    assert exchange(sandbox, "GET", "/v2/bot/richmenu/list").json() == {"richmenus": []}
