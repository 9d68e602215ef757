"""`/_sandbox/...`: the routes a test or a person uses to steer and inspect a sandbox.

User ids never appear in URLs (they are personal data and end up in access logs), so the
per-user lookup is a POST with a JSON body.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from broadcaster.sandbox.config import FaultConfig
from broadcaster.sandbox.state import SandboxState
from broadcaster.sandbox.webhooks import WebhookRequestError


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=400)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def admin_routes(state: SandboxState) -> list[Route]:
    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, **state.summary()})

    async def get_faults(request: Request) -> JSONResponse:
        return JSONResponse(state.faults.current().to_dict())

    async def set_faults(request: Request) -> JSONResponse:
        """Replace the fault settings; fields left out go back to "no fault"."""
        try:
            config = FaultConfig.from_dict(await _json(request))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        state.faults.replace(config)
        return JSONResponse(config.to_dict())

    async def deliveries(request: Request) -> JSONResponse:
        try:
            user_id = (await _json(request)).get("user_id")
        except ValueError as exc:
            return _bad(str(exc))
        if not isinstance(user_id, str):
            return _bad("user_id: required string")
        return JSONResponse({"user_id": user_id, "deliveries": state.records.deliveries(user_id)})

    async def rich_menus(request: Request) -> JSONResponse:
        """Every menu, the default, and (given a user_id) the menu that user sees."""
        try:
            user_id = (await _json(request)).get("user_id")
        except ValueError as exc:
            return _bad(str(exc))
        if user_id is not None and not isinstance(user_id, str):
            return _bad("user_id: must be a string")
        return JSONResponse(state.rich_menus.record(user_id))

    async def totals(request: Request) -> JSONResponse:
        body = state.records.totals()
        body["quota_used"] = state.quota.used
        return JSONResponse(body)

    async def duplicates(request: Request) -> JSONResponse:
        return JSONResponse({"duplicates": state.records.duplicates()})

    async def requests(request: Request) -> JSONResponse:
        status = request.query_params.get("status")
        if status is not None and not status.isdigit():
            return _bad("status: expected an integer")
        entries = state.records.requests(
            int(status) if status is not None else None, request.query_params.get("endpoint")
        )
        return JSONResponse({"requests": [e.to_dict() for e in entries]})

    async def reset(request: Request) -> JSONResponse:
        state.reset()
        return JSONResponse({"reset": True})

    async def send_webhook(request: Request) -> JSONResponse:
        try:
            data = await _json(request)
            url = data.get("url") or state.config.webhook_url
            if not url:
                return _bad("url: no webhook URL configured and none given")
            event = state.residents.build_event(data, time.time())
        except (ValueError, WebhookRequestError) as exc:
            return _bad(str(exc))
        state.note_event(event)
        payload = state.residents.payload([event])
        result = await state.residents.deliver(
            str(url), payload, forge_signature=bool(data.get("forge_signature"))
        )
        return JSONResponse(
            {"event": event, "payload": payload, "status": result.status, "error": result.error}
        )

    return [
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/faults", get_faults, methods=["GET"]),
        Route("/_sandbox/faults", set_faults, methods=["POST"]),
        Route("/_sandbox/deliveries", deliveries, methods=["POST"]),
        Route("/_sandbox/totals", totals, methods=["GET"]),
        Route("/_sandbox/richmenus", rich_menus, methods=["POST"]),
        Route("/_sandbox/duplicates", duplicates, methods=["GET"]),
        Route("/_sandbox/requests", requests, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/webhooks/send", send_webhook, methods=["POST"]),
    ]
