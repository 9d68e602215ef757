"""The sandbox app: LINE's Messaging API send, reply, quota, validate and progress
endpoints and rich menus (broadcaster.sandbox.richmenus), answered the way LINE documents,
plus the `/_sandbox` control routes.

Order of checks on a sending endpoint (our reading of LINE's behaviour): authentication
(401), body size (413), retry-key format and endpoint (400), rate limit (429), injected
fault, JSON and body validation (400), retry key already accepted (409), monthly quota
(429), then the delivery is applied. State changes happen without an `await` in between,
so concurrent requests on the one event loop cannot both pass the retry-key check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broadcaster.sandbox import errors
from broadcaster.sandbox.admin import admin_routes
from broadcaster.sandbox.channel import channel_routes
from broadcaster.sandbox.config import SandboxConfig
from broadcaster.sandbox.connection import SCOPE_KEY, Hangup, HangupMiddleware
from broadcaster.sandbox.faults import Outcome
from broadcaster.sandbox.insight import insight_routes
from broadcaster.sandbox.records import LoggedRequest
from broadcaster.sandbox.retrykeys import RETRYABLE_ENDPOINTS, AcceptedKey, is_uuid
from broadcaster.sandbox.richmenus import RichMenuApi
from broadcaster.sandbox.state import NarrowcastProgress, SandboxState
from broadcaster.sandbox.ui import ui_routes
from broadcaster.sandbox.validation import InvalidJson, parse_json, validate_body

SENDING = ("push", "multicast", "broadcast", "narrowcast")
VALIDATE_KINDS = ("push", "multicast", "broadcast", "narrowcast", "reply")


class _Answer(Exception):
    """An early answer from a check; carries the response to send."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


class LineApi:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._auth = f"Bearer {state.config.channel_access_token}".encode()

    # -- shared steps -------------------------------------------------------------------

    def _check_auth(self, request: Request) -> None:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, self._auth):
            raise _Answer(401, errors.error_body(errors.AUTH_FAILED))

    async def _read_body(self, request: Request) -> bytes:
        limit = self.state.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _Answer(413, errors.error_body(errors.TOO_LARGE))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Answer(413, errors.error_body(errors.TOO_LARGE))
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_retry_key(self, request: Request, endpoint: str) -> str | None:
        key = request.headers.get("x-line-retry-key")
        if key is None:
            return None
        if endpoint not in RETRYABLE_ENDPOINTS:
            raise _Answer(400, errors.error_body(errors.RETRY_KEY_NOT_SUPPORTED))
        if not is_uuid(key):
            raise _Answer(400, errors.error_body(errors.RETRY_KEY_INVALID))
        return key

    def _check_rate(self, bucket: str) -> None:
        if not self.state.buckets[bucket].take(time.monotonic()):
            raise _Answer(429, errors.error_body(errors.RATE_LIMITED))

    def _parse(self, raw: bytes, kind: str) -> dict[str, Any]:
        try:
            body = parse_json(raw)
        except InvalidJson as exc:
            raise _Answer(400, errors.error_body(errors.INVALID_JSON)) from exc
        problems = validate_body(kind, body)
        if problems:
            raise _Answer(400, errors.invalid_body(problems))
        assert isinstance(body, dict)
        return body

    async def _respond(
        self,
        request_id: str,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        extra_delay_ms: int = 0,
    ) -> Response:
        delay = self.state.config.delay_ms + extra_delay_ms
        if delay:
            await asyncio.sleep(delay / 1000)
        response = JSONResponse(body, status_code=status)
        response.headers["x-line-request-id"] = request_id
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response

    def _log(self, endpoint: str, status: int, request_id: str, retry_key: str | None,
             recipients: int = 0, fault: str | None = None) -> None:
        self.state.records.log(
            LoggedRequest(time.time(), endpoint, status, request_id, retry_key, recipients, fault)
        )

    # -- sending endpoints --------------------------------------------------------------

    async def send(self, request: Request) -> Response:
        endpoint: str = request.scope["route"].name
        request_id = str(uuid.uuid4())
        retry_key: str | None = None
        injected: str | None = None  # an injected 500/429, logged apart from real refusals
        try:
            self._check_auth(request)
            raw = await self._read_body(request)
            retry_key = self._check_retry_key(request, endpoint)
            self._check_rate(endpoint)
            outcome = self.state.faults.next_outcome()
            if outcome is Outcome.DROP:
                self._log(endpoint, 0, request_id, retry_key, fault="drop")
                await self._hangup(request)
                return Response(status_code=204)
            if outcome is Outcome.ERROR_500:
                injected = outcome.value
                raise _Answer(500, errors.error_body(errors.INTERNAL_ERROR))
            if outcome is Outcome.ERROR_429:
                injected = outcome.value
                raise _Answer(429, errors.error_body(errors.RATE_LIMITED))
            body = self._parse(raw, endpoint)
            status, answer, recipients = self._apply(endpoint, body, request_id, retry_key)
        except _Answer as early:
            self._log(endpoint, early.status, request_id, retry_key, fault=injected)
            return await self._respond(request_id, early.status, early.body, early.headers)
        if outcome is Outcome.LOST_RESPONSE:
            self._log(endpoint, status, request_id, retry_key, recipients, "lost_response")
            if self.state.config.delay_ms:
                await asyncio.sleep(self.state.config.delay_ms / 1000)
            await self._hangup(request)
            return Response(status_code=204)
        fault = "slow" if outcome is Outcome.SLOW else None
        self._log(endpoint, status, request_id, retry_key, recipients, fault)
        extra = self.state.faults.config.slow_ms if fault else 0
        return await self._respond(request_id, status, answer, extra_delay_ms=extra)

    async def _hangup(self, request: Request) -> None:
        hangup: Hangup = request.scope[SCOPE_KEY]
        await hangup()

    def _apply(
        self, endpoint: str, body: dict[str, Any], request_id: str, retry_key: str | None
    ) -> tuple[int, dict[str, Any], int]:
        """Deliver (no awaits inside). Returns status, response body and recipient count."""
        state = self.state
        now = time.monotonic()
        if retry_key is not None:
            prior = state.retry_keys.lookup(retry_key, now)
            if prior is not None:
                if prior.endpoint != endpoint:
                    raise _Answer(400, errors.error_body(errors.RETRY_KEY_OTHER_ENDPOINT))
                conflict: dict[str, Any] = errors.error_body(errors.RETRY_KEY_ACCEPTED)
                if prior.sent_messages is not None:
                    conflict["sentMessages"] = prior.sent_messages
                raise _Answer(409, conflict, {"x-line-accepted-request-id": prior.request_id})
        if endpoint == "push":
            users = [body["to"]]
        elif endpoint == "multicast":
            users = list(body["to"])
        else:
            users = list(state.residents.followers)
        counted = len(users)
        fixed_count = state.config.broadcast_recipients
        if endpoint in ("broadcast", "narrowcast") and fixed_count is not None:
            counted = fixed_count
        if not state.quota.allows(counted):
            raise _Answer(429, errors.error_body(errors.MONTHLY_LIMIT))
        messages = body["messages"]
        state.records.accept(
            endpoint=endpoint,
            request_id=request_id,
            retry_key=retry_key,
            messages=messages,
            units=body.get("customAggregationUnits"),
            users=users,
            at=time.time(),
        )
        state.quota.consume(counted)
        answer: dict[str, Any] = {}
        sent: list[dict[str, Any]] | None = None
        status = 200
        if endpoint == "push":
            sent = self._sent_messages(messages)
            answer = {"sentMessages": sent}
        elif endpoint == "narrowcast":
            status = 202
            state.narrowcasts[request_id] = NarrowcastProgress(time.time(), counted)
        if retry_key is not None:
            state.retry_keys.remember(retry_key, AcceptedKey(endpoint, request_id, now, sent))
        return status, answer, len(users)

    def _sent_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"id": self.state.next_message_id(), "quoteToken": f"q{uuid.uuid4().hex}"}
            for _ in messages
        ]

    # -- reply, quota, validate, progress ------------------------------------------------

    async def reply(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            self._check_auth(request)
            raw = await self._read_body(request)
            self._check_retry_key(request, "reply")
            self._check_rate("reply")
            body = self._parse(raw, "reply")
            user_id = self.state.residents.use_reply_token(body["replyToken"], time.monotonic())
            if user_id is None:
                raise _Answer(400, errors.error_body(errors.INVALID_REPLY_TOKEN))
            # Replies are free: LINE does not count them against the monthly quota.
            self.state.records.accept(
                endpoint="reply", request_id=request_id, retry_key=None,
                messages=body["messages"], units=None, users=[user_id], at=time.time(),
            )
        except _Answer as early:
            self._log("reply", early.status, request_id, None)
            return await self._respond(request_id, early.status, early.body, early.headers)
        self._log("reply", 200, request_id, None, 1)
        sent = self._sent_messages(body["messages"])
        return await self._respond(request_id, 200, {"sentMessages": sent})

    async def _simple(
        self, request: Request, bucket: str, endpoint: str
    ) -> tuple[str, Response | None]:
        request_id = str(uuid.uuid4())
        try:
            self._check_auth(request)
            self._check_retry_key(request, endpoint)
            self._check_rate(bucket)
        except _Answer as early:
            self._log(endpoint, early.status, request_id, None)
            return request_id, await self._respond(request_id, early.status, early.body)
        return request_id, None

    async def quota(self, request: Request) -> Response:
        request_id, early = await self._simple(request, "quota", "quota")
        if early:
            return early
        self._log("quota", 200, request_id, None)
        return await self._respond(request_id, 200, self.state.quota.quota_body())

    async def consumption(self, request: Request) -> Response:
        request_id, early = await self._simple(request, "quota", "quota/consumption")
        if early:
            return early
        self._log("quota/consumption", 200, request_id, None)
        return await self._respond(request_id, 200, self.state.quota.consumption_body())

    async def progress(self, request: Request) -> Response:
        request_id, early = await self._simple(request, "progress", "progress/narrowcast")
        if early:
            return early
        found = self.state.narrowcasts.get(request.query_params.get("requestId", ""))
        if found is None:
            self._log("progress/narrowcast", 404, request_id, None)
            return await self._respond(request_id, 404, errors.error_body(errors.NOT_FOUND))
        accepted = dt.datetime.fromtimestamp(found.accepted_at, dt.UTC)
        stamp = accepted.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        # The sandbox delivers at once, so a known narrowcast has always succeeded.
        body = {
            "phase": "succeeded", "successCount": found.target, "failureCount": 0,
            "targetCount": found.target, "acceptedTime": stamp, "completedTime": stamp,
        }
        self._log("progress/narrowcast", 200, request_id, None)
        return await self._respond(request_id, 200, body)

    async def validate(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        endpoint = f"validate/{kind}"
        request_id = str(uuid.uuid4())
        try:
            if kind not in VALIDATE_KINDS:
                raise _Answer(404, errors.error_body(errors.NOT_FOUND))
            self._check_auth(request)
            raw = await self._read_body(request)
            self._check_retry_key(request, "validate")
            self._check_rate("validate")
            self._parse(raw, "validate")
        except _Answer as early:
            self._log(endpoint, early.status, request_id, None)
            return await self._respond(request_id, early.status, early.body)
        self._log(endpoint, 200, request_id, None)
        return await self._respond(request_id, 200, {})


def create_sandbox_app(config: SandboxConfig | None = None) -> HangupMiddleware:
    """The ASGI app for one sandbox. Its state is at `.app.state.sandbox` (a SandboxState)."""
    state = SandboxState(config or SandboxConfig())
    api = LineApi(state)
    base = "/v2/bot/message"
    routes = [Route(f"{base}/{name}", api.send, methods=["POST"], name=name) for name in SENDING]
    routes += [
        Route(f"{base}/reply", api.reply, methods=["POST"]),
        Route(f"{base}/quota", api.quota, methods=["GET"]),
        Route(f"{base}/quota/consumption", api.consumption, methods=["GET"]),
        Route(f"{base}/progress/narrowcast", api.progress, methods=["GET"]),
        Route(base + "/validate/{kind}", api.validate, methods=["POST"]),
        *RichMenuApi(api).routes(),
        *admin_routes(state),
        *insight_routes(api),
        *channel_routes(state),
        *ui_routes(state),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = state
    return HangupMiddleware(app)
