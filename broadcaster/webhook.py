"""`POST /line/webhook`: what residents do in LINE (follow, block, settings, commands,
a shared location).

The signature is checked on the raw body before anything is parsed (it is the only
authentication LINE offers). Each event is applied in its own short transaction, with its
`webhookEventId` inserted first so a redelivered or concurrently delivered event applies
once. The 200 goes back as soon as the database work is done; replies are sent afterwards
in the background.

Commands: other areas answer a text or a rich-menu postback by adding to the registries
below, e.g. the garbage calendar::

    from broadcaster.webhook import POSTBACK_COMMANDS, TEXT_COMMANDS
    TEXT_COMMANDS["ごみ"] = next_collections      # text 「ごみ」
    POSTBACK_COMMANDS["garbage"] = next_collections  # postback data `action=garbage`

A command is `(session, resident, now) -> list of LINE message dicts` (camelCase, at most
5); it runs inside the event's transaction, must not call LINE itself, and its module must
be imported before the first webhook arrives (e.g. from broadcaster/api/__init__.py).

A command word in any language (the catalog's `words`: "Garbage", 「ことば」, "Abrigos")
runs the same as the postback `action=<name>`. Shelters near me (a location message, or
`action=shelters`) and the orders in effect (`action=orders`) are answered here from
broadcaster.nearby. Whenever a resident's language or district changes (or they follow
again), the rich menu they should see is linked to them after the reply is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhook import SignatureValidator, WebhookParser
from linebot.v3.webhooks import (
    FollowEvent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from broadcaster import nearby, rich_menus
from broadcaster.api.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from broadcaster.clock import utcnow
from broadcaster.db import session_scope, table_of
from broadcaster.kpis import friends
from broadcaster.replies import Reply, send_replies
from broadcaster.settings import Settings
from broadcaster.webhook_events import claim_event
from broadcaster.webhook_input import (
    event_problem,
    nesting_too_deep,
    occurred_at,
    record_skipped,
    webhook_problem,
)
from segments import enrollment, follow
from segments.catalog import action_for_word, texts_for
from segments.choices import Choices, Options, Outcome
from segments.questions import SETTINGS_TEXT
from segments.quick_replies import parse_postback
from segments.residents import (
    FollowState,
    Resident,
    ResidentInterest,
    ResidentOptOut,
    mask_user_id,
)

log = logging.getLogger(__name__)

Command = Callable[[Session, Resident, datetime], list[dict[str, Any]]]
# Exact (stripped) text -> command. See the module docstring.
TEXT_COMMANDS: dict[str, Command] = {}
# Postback `action=<name>` -> command.
POSTBACK_COMMANDS: dict[str, Command] = {}
# Text that no command and no conversation step answered is offered to these in order
# (e.g. the garbage sorting dictionary, 「電池」); one returning None passes it on, and
# when all pass the resident gets HELP_TEXT. Same contract as a command, plus the text.
TextFallback = Callable[[Session, Resident, str, datetime], list[dict[str, Any]] | None]
TEXT_FALLBACKS: dict[str, TextFallback] = {}
# Postback `action=<name>` -> handler that also reads the postback's fields (a survey
# answer carries its survey and score), tried before POSTBACK_COMMANDS.
FieldsCommand = Callable[[Session, Resident, dict[str, str], datetime], list[dict[str, Any]]]
POSTBACK_FIELD_COMMANDS: dict[str, FieldsCommand] = {}

# The Japanese texts (each resident gets their own language's, from the catalog).
HELP_TEXT = texts_for("ja")("help.text", settings=SETTINGS_TEXT)
COMMAND_FAILED_TEXT = texts_for("ja")("help.failed")

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


def process_event(session: Session, settings: Settings, event: Any, now: datetime) -> Reply | None:
    """Apply one event in `session` (the caller commits). Returns the reply to send, if any.

    Events without an id, from groups or rooms, or of types we do not handle are ignored.
    """
    event_id = getattr(event, "webhook_event_id", None)
    source = getattr(event, "source", None)
    if not event_id or not isinstance(source, UserSource) or not source.user_id:
        return None
    occurred = occurred_at(event)
    if not claim_event(session, event_id, str(event.type), occurred, now):
        log.info("webhook event %s already applied; skipped", event_id)
        return None
    user_id: str = source.user_id
    resident = session.exec(select(Resident).where(Resident.line_user_id == user_id)).first()
    if resident is None:
        resident = follow.new_resident(user_id, now=now)
        session.add(resident)
    before = (resident.language, resident.district, resident.follow_state)
    messages = _apply(session, settings, resident, event, occurred, now)
    session.flush()
    link = None
    changed = (resident.language, resident.district, resident.follow_state) != before
    if changed and resident.follow_state == FollowState.following:
        link = rich_menus.link_for(session, settings, resident)
    standby = str(getattr(event.mode, "value", event.mode)) == "standby"
    token = getattr(event, "reply_token", None)
    if standby:
        return None
    if not (messages and token) and link is None:
        return None
    return Reply(token or "", mask_user_id(user_id), messages if token else [], link)


def _apply(
    session: Session,
    settings: Settings,
    resident: Resident,
    event: Any,
    occurred: datetime,
    now: datetime,
) -> list[dict[str, Any]]:
    options = Options.from_settings(settings)
    if isinstance(event, FollowEvent | UnfollowEvent):
        # KPIs (issue 14): every follow and block, with LINE's time, for friends over time.
        kind = "follow" if isinstance(event, FollowEvent) else "unfollow"
        friends.record(session, resident, friends.FriendEventKind(kind), occurred, now)
    if isinstance(event, UnfollowEvent):
        follow.apply_unfollow(resident, occurred, now=now)
        return []
    if isinstance(event, FollowEvent):
        result = follow.apply_follow(resident, occurred, now=now)
        if result is follow.FollowResult.stale:
            return []
        welcome = enrollment.welcome(
            _choices(session, resident),
            options,
            returning=result is follow.FollowResult.returning,
        )
        return _store(session, resident, welcome, now)
    if isinstance(event, PostbackEvent):
        data = event.postback.data or ""
        choices = _choices(session, resident)
        outcome: Outcome | None = enrollment.handle_postback(choices, options, data)
        if outcome is None:
            fields = parse_postback(data)
            action = fields.get("action", "")
            fields_command = POSTBACK_FIELD_COMMANDS.get(action)
            if fields_command is not None:
                return _run_command(
                    partial(_with_fields, fields_command, fields), session, resident, now
                )
            answered = _action(session, settings, resident, action, now)
            if answered is not None:
                return answered
            outcome = enrollment.refused(choices, options)
        return _store(session, resident, outcome, now)
    if isinstance(event, MessageEvent) and isinstance(event.message, LocationMessageContent):
        location = event.message
        return nearby.shelters_reply(
            session, settings, resident, location.latitude, location.longitude
        )
    if isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
        text = (event.message.text or "").strip()
        command = TEXT_COMMANDS.get(text)
        if command is not None:
            return _run_command(command, session, resident, now)
        answer = enrollment.handle_text(_choices(session, resident), options, text)
        if answer is not None:
            return _store(session, resident, answer, now)
        word = action_for_word(text)
        answered = _action(session, settings, resident, word, now) if word else None
        if answered is not None:
            return answered
        for fallback in list(TEXT_FALLBACKS.values()):
            messages = _run_command(_with_text(fallback, text), session, resident, now)
            if messages:
                return messages
        texts = texts_for(resident.language, settings.residents.labels)
        return [{"type": "text", "text": texts("help.text", settings=texts.word("settings"))}]
    return []


def _with_text(fallback: TextFallback, text: str) -> Command:
    """A fallback as a command (no answer = no messages), so it runs like one."""

    def command(session: Session, resident: Resident, now: datetime) -> list[dict[str, Any]]:
        return fallback(session, resident, text, now) or []

    return command


def _action(
    session: Session, settings: Settings, resident: Resident, action: str, now: datetime
) -> list[dict[str, Any]] | None:
    """A rich-menu or command-word action that is not the conversation's; None if unknown."""
    if action == "shelters":
        return nearby.ask_location(settings, resident)
    if action == "orders":
        return nearby.orders_reply(session, settings, resident)
    command = POSTBACK_COMMANDS.get(action)
    if command is None:
        return None
    return _run_command(command, session, resident, now)


def _run_command(
    command: Command, session: Session, resident: Resident, now: datetime
) -> list[dict[str, Any]]:
    session.flush()
    try:
        with session.begin_nested():
            return list(command(session, resident, now))
    except Exception:
        # Another area's bug must not lose this event's state changes or break the webhook.
        log.exception("webhook command failed for %s", mask_user_id(resident.line_user_id))
        return [{"type": "text", "text": texts_for(resident.language)("help.failed")}]


def _with_fields(
    command: FieldsCommand, fields: dict[str, str], session: Session, resident: Resident,
    now: datetime,
) -> list[dict[str, Any]]:
    return command(session, resident, fields, now)


def _choices(session: Session, resident: Resident) -> Choices:
    interests: frozenset[str] = frozenset()
    opt_outs: frozenset[str] = frozenset()
    if resident.id is not None:
        interests = frozenset(
            session.exec(
                select(ResidentInterest.interest).where(ResidentInterest.resident_id == resident.id)
            ).all()
        )
        opt_outs = frozenset(
            session.exec(
                select(ResidentOptOut.category).where(ResidentOptOut.resident_id == resident.id)
            ).all()
        )
    return Choices(
        district=resident.district,
        garbage_zone=resident.garbage_zone,
        reminder_timing=resident.reminder_timing,
        interests=interests,
        language=resident.language,
        step=resident.enrollment_step,
        opt_outs=opt_outs,
    )


def _store(
    session: Session, resident: Resident, outcome: Outcome, now: datetime
) -> list[dict[str, Any]]:
    """Apply the conversation's changes to the resident (and its interest and opt-out rows)."""
    for column, value in outcome.changes.items():
        setattr(resident, column, value)
    if outcome.changes or outcome.interests is not None or outcome.opt_outs is not None:
        resident.updated_at = now
    if outcome.interests is not None:
        _replace_rows(session, resident, ResidentInterest, "interest", outcome.interests)
    if outcome.opt_outs is not None:
        _replace_rows(session, resident, ResidentOptOut, "category", outcome.opt_outs)
    return outcome.messages


def _replace_rows(
    session: Session,
    resident: Resident,
    model: type[ResidentInterest] | type[ResidentOptOut],
    column: str,
    wanted: frozenset[str],
) -> None:
    """Make the resident's rows of `model` exactly `wanted` (adding and deleting the
    difference, so unchanged rows keep their identity)."""
    session.flush()
    assert resident.id is not None
    table = table_of(model)
    current = set(
        session.connection()
        .execute(sa.select(table.c[column]).where(table.c.resident_id == resident.id))
        .scalars()
    )
    gone = current - wanted
    if gone:
        session.connection().execute(
            sa.delete(table).where(table.c.resident_id == resident.id, table.c[column].in_(gone))
        )
    for added in sorted(wanted - current):
        session.add(model(resident_id=resident.id, **{column: added}))
