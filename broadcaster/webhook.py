"""`POST /line/webhook`: what residents do in LINE (follow, block, settings, commands,
a shared location).

The signature is checked on the raw body before anything is parsed (it is the only
authentication LINE offers). Each event is applied in its own short transaction, with its
`webhookEventId` inserted first so a redelivered or concurrently delivered event applies
once. The 200 goes back as soon as the database work is done; replies are sent afterwards
in the background.

What each kind of event does is broadcaster.webhook_handlers; the commands other areas
answer residents with are registered in broadcaster.webhook_commands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhook import SignatureValidator, WebhookParser
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from broadcaster.api.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from broadcaster.clock import utcnow
from broadcaster.db import session_scope
from broadcaster.replies import Reply, send_replies
from broadcaster.settings import Settings
from broadcaster.webhook_handlers import process_event
from broadcaster.webhook_input import (
    event_problem,
    nesting_too_deep,
    record_skipped,
    webhook_problem,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["line"])


@router.post(
    "/line/webhook",
    summary="LINE webhook (signed by LINE with the channel secret)",
    description="400: no signature, not a webhook body or nested too deep; 401: wrong signature.",
)
async def line_webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
    settings: Settings = request.app.state.settings
    engine: Engine = request.app.state.engine
    secret = settings.line.channel_secret.get_secret_value()
    if not secret:
        log.error("webhook called but line.channel_secret is not set")
        return _answer(503, "webhook not configured: set line.channel_secret")
    signature = request.headers.get("x-line-signature")  # Starlette headers ignore case
    if not signature:
        return _answer(400, "missing x-line-signature header")
    raw = await request.body()  # at most limits.webhook_body_bytes (api.body_limits)
    try:
        text = raw.decode("utf-8")
        if not SignatureValidator(secret).validate(text, signature):
            raise InvalidSignatureError("wrong signature")
    except (InvalidSignatureError, UnicodeDecodeError):
        return _answer(401, "invalid x-line-signature")
    # Signed, but nested past any real event: refused before a recursive parser sees it.
    if nesting_too_deep(raw, settings.limits.webhook_json_depth):
        return _answer(400, "body is nested too deep")
    try:
        payload = WebhookParser(secret).parse(text, signature, as_payload=True)
    except InvalidSignatureError:
        return _answer(401, "invalid x-line-signature")
    except (ValueError, KeyError, TypeError):
        return _answer(400, "body is not a LINE webhook payload")
    events = list(payload.events or [])
    if not events:
        return _answer(200, "ok")  # LINE's connectivity check
    replies, failed = await run_in_threadpool(process_events, engine, settings, events, utcnow())
    if replies:
        background.add_task(send_replies, settings.line, replies)
    if failed:
        # LINE redelivers after a non-2xx (when enabled); applied events are de-duplicated.
        return _answer(500, f"{failed} event(s) could not be applied")
    return _answer(200, "ok")


def _answer(status: int, message: str) -> JSONResponse:
    if status < 400:
        return JSONResponse({"message": message}, status_code=status)
    # Refusals in the one problem shape of the service (broadcaster.api.problems).
    return JSONResponse(
        webhook_problem(status, message), status_code=status, media_type=PROBLEM_MEDIA_TYPE
    )


def process_events(
    engine: Engine, settings: Settings, events: Sequence[Any], now: datetime
) -> tuple[list[Reply], int]:
    """Apply each event in its own transaction. Returns the replies to send and how many
    events failed (logged; the others are applied regardless)."""
    replies: list[Reply] = []
    failed = 0
    for event in events:
        # An event that can never be applied is skipped and recorded, not failed: LINE
        # would redeliver the whole body forever (broadcaster.webhook_input).
        problem = event_problem(event)
        if problem is not None:
            record_skipped(engine, event, problem, now)
            continue
        try:
            reply = _process_with_retry(engine, settings, event, now)
        except Exception:
            failed += 1
            log.exception("webhook event %s failed", getattr(event, "type", "?"))
            continue
        if reply is not None:
            replies.append(reply)
    return replies, failed


def _process_with_retry(
    engine: Engine, settings: Settings, event: Any, now: datetime
) -> Reply | None:
    # Two first events of one new user (e.g. a follow and a message in separate requests)
    # may both try to create the resident; the loser retries once and finds the record.
    for attempt in range(2):
        try:
            with session_scope(engine) as session:
                return process_event(session, settings, event, now)
        except sa.exc.IntegrityError:
            if attempt:
                raise
    return None
