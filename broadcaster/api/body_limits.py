"""Request bodies are limited per route while they stream, before any other work.

A pure ASGI middleware, outermost but for Starlette's error guard: it runs before
routing, authentication and parsing, so a 200 MB body with no token costs what the limit
allows and no more. A declared `Content-Length` over the limit is answered at once
without reading a byte; a body that streams (chunked, or lying about its length) is counted
as it arrives and answered the moment it passes the limit. Either way the answer is the
same 413 problem document, and the connection is closed so the rest is never read.

Limits come from `settings.limits` (and `emergency.max_alert_bytes`): each upload kind and
the webhook has its own; every other route takes the JSON limit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broadcaster.api.problems import MEDIA_TYPE, problem_body
from broadcaster.catalog import negotiate
from broadcaster.errors import TooLarge
from broadcaster.settings import Settings

# A multipart upload carries its boundary lines and part headers around the file.
MULTIPART_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class RouteLimit:
    method: str
    path: re.Pattern[str]
    limit: int


def route_limits(settings: Settings, api_prefix: str = "/api/v1") -> list[RouteLimit]:
    """The limit of each route that takes more than a JSON body; first match wins."""
    limits = settings.limits

    def route(path: str, limit: int) -> RouteLimit:
        return RouteLimit("POST", re.compile(path), limit)

    upload = MULTIPART_OVERHEAD
    return [
        route("/line/webhook", limits.webhook_body_bytes),
        route(f"{api_prefix}/residents/import", limits.residents_csv_bytes + upload),
        route(f"{api_prefix}/calendars(/[^/]+)?", limits.calendar_bytes + upload),
        route(f"{api_prefix}/shelters/import", limits.shelters_csv_bytes),
        route("/console/emergency/shelters/import", limits.shelters_csv_bytes + upload),
        route("/console/garbage/preview", limits.calendar_bytes + upload),
        route(f"{api_prefix}/alerts", settings.emergency.max_alert_bytes),
    ]


class _Exceeded(Exception):
    """Raised into the app from `receive` once the body passes its limit."""


class BodyLimit:
    """ASGI middleware answering 413 for a body over its route's limit."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.default = settings.limits.json_body_bytes
        self.routes = route_limits(settings)

    def limit_for(self, method: str, path: str) -> int:
        for route in self.routes:
            if route.method == method and route.path.fullmatch(path):
                return route.limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(scope, send, limit)
            return
        state = {"received": 0, "exceeded": False, "started": False}

        async def limited_receive() -> Message:
            if state["exceeded"]:
                raise _Exceeded
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["exceeded"] = True
                    raise _Exceeded
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app answers once the body was cut off (FastAPI turns a failed
            # body read into a 400) is replaced by the 413.
            if state["exceeded"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _Exceeded:
            pass
        except Exception:
            if not state["exceeded"]:
                raise
        if state["exceeded"] and not state["started"]:
            await _refuse(scope, send, limit)


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    headers = dict(scope.get("headers") or [])
    accept = headers.get(b"accept-language", b"").decode("latin-1")
    language = negotiate(accept)
    body = json.dumps(
        problem_body(TooLarge("body.too_large", limit=limit), language), ensure_ascii=False
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"content-language", language.encode()),
                # The rest of the body is never read: the client must not send it again
                # on this connection.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def install(app: FastAPI, settings: Settings) -> None:
    """Add the middleware (outside routing, so before authentication and parsing)."""
    app.add_middleware(BodyLimit, settings=settings)
