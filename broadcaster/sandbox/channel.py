"""The channel's own endpoints: bot info and the webhook endpoint setting (and its test).

`broadcaster doctor` asks these of LINE to check a real set-up (is the token valid, which
account is it, is the webhook URL ours and switched on); the sandbox answers them as LINE
documents (`BotInfoResponse`, `GetWebhookEndpointResponse`, `TestWebhookEndpointResponse`)
so the same checks can be tested.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from broadcaster.sandbox import errors
from broadcaster.sandbox.state import SandboxState

MAX_ENDPOINT_LENGTH = 500


def channel_routes(state: SandboxState) -> list[Route]:
    auth = f"Bearer {state.config.channel_access_token}".encode()
    # The endpoint LINE would deliver webhooks to; the sandbox starts with its webhook_url.
    webhook = {"endpoint": state.config.webhook_url or "", "active": bool(state.config.webhook_url)}

    def answer(status: int, body: dict[str, Any]) -> JSONResponse:
        response = JSONResponse(body, status_code=status)
        response.headers["x-line-request-id"] = str(uuid.uuid4())
        return response

    def refused(request: Request) -> JSONResponse | None:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, auth):
            return answer(401, errors.error_body(errors.AUTH_FAILED))
        return None

    async def endpoint_of(request: Request) -> str | JSONResponse:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return answer(400, errors.error_body(errors.INVALID_JSON))
        endpoint = body.get("endpoint", "") if isinstance(body, dict) else None
        if not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT_LENGTH:
            return answer(400, {"message": "The request body has 1 error(s)",
                                "details": [{"message": "Invalid URL", "property": "endpoint"}]})
        if endpoint and not endpoint.startswith("https://") and not endpoint.startswith("http://"):
            return answer(400, {"message": "The request body has 1 error(s)",
                                "details": [{"message": "Invalid URL", "property": "endpoint"}]})
        return endpoint

    async def bot_info(request: Request) -> JSONResponse:
        if (early := refused(request)) is not None:
            return early
        return answer(200, {
            "userId": state.residents.destination,
            "basicId": "@000sandbox",
            "displayName": "broadcaster sandbox",
            "chatMode": "bot",
            "markAsReadMode": "auto",
        })

    async def get_endpoint(request: Request) -> JSONResponse:
        if (early := refused(request)) is not None:
            return early
        return answer(200, dict(webhook))

    async def set_endpoint(request: Request) -> JSONResponse:
        if (early := refused(request)) is not None:
            return early
        endpoint = await endpoint_of(request)
        if isinstance(endpoint, JSONResponse):
            return endpoint
        webhook["endpoint"] = endpoint
        webhook["active"] = bool(endpoint)
        return answer(200, {})

    async def test_endpoint(request: Request) -> JSONResponse:
        if (early := refused(request)) is not None:
            return early
        endpoint = await endpoint_of(request)
        if isinstance(endpoint, JSONResponse):
            return endpoint
        url = endpoint or webhook["endpoint"]
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if not url:
            return answer(200, {"success": False, "timestamp": stamp, "statusCode": 0,
                                "reason": "NO_ENDPOINT", "detail": "no webhook endpoint set"})
        # LINE's test sends a payload with no events, signed like any other.
        result = await state.residents.deliver(str(url), state.residents.payload([]))
        ok = result.status is not None and 200 <= result.status < 300
        return answer(200, {
            "success": ok,
            "timestamp": stamp,
            "statusCode": result.status or 0,
            "reason": "OK" if ok else ("COULD_NOT_CONNECT" if result.status is None
                                       else "ERROR_STATUS_CODE"),
            "detail": result.error or str(result.status),
        })

    return [
        Route("/v2/bot/info", bot_info, methods=["GET"]),
        Route("/v2/bot/channel/webhook/endpoint", get_endpoint, methods=["GET"]),
        Route("/v2/bot/channel/webhook/endpoint", set_endpoint, methods=["PUT"]),
        Route("/v2/bot/channel/webhook/test", test_endpoint, methods=["POST"]),
    ]
