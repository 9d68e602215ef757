"""Closing a connection without any HTTP response, from inside an ASGI app.

ASGI has no "hang up" message, and raising before `http.response.start` makes uvicorn
send a 500. So an outer ASGI wrapper finds uvicorn's transport (the `send` callable is a
bound method of uvicorn's RequestResponseCycle, which holds it), puts a `Hangup` into the
scope, and swallows whatever the app sends after hanging up. Closing the transport sends
a FIN: aiohttp raises ServerDisconnectedError, urllib3 raises ProtocolError.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "sandbox.hangup"


class HangupUnsupported(RuntimeError):
    """The server running the app exposes no transport (not uvicorn's h11/httptools)."""


class Hangup:
    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.done = False

    async def __call__(self) -> None:
        """Close the connection now; nothing the app sends afterwards reaches the client."""
        if self._transport is None:
            raise HangupUnsupported("cannot close the connection: no transport in this server")
        self.done = True
        self._transport.close()
        # Let the loop run connection_lost, so uvicorn marks the cycle disconnected and
        # does not try to answer the request itself.
        for _ in range(3):
            await asyncio.sleep(0)


class HangupMiddleware:
    """Also stamps an `X-Line-Request-Id` on responses the routes did not make (404, 405),
    because LINE sends one with every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cycle = getattr(send, "__self__", None)
        hangup = Hangup(getattr(cycle, "transport", None))
        scope[SCOPE_KEY] = hangup

        async def guarded_send(message: Message) -> None:
            if hangup.done:
                return
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-line-request-id" for name, _ in headers):
                    headers.append((b"x-line-request-id", str(uuid.uuid4()).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, guarded_send)
