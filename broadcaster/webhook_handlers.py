"""One webhook event applied to its resident, by kind: follow, block, postback, location,
text.

A command word in any language (the catalog's `words`: "Garbage", 「ことば」, "Abrigos")
runs the same as the postback `action=<name>`. Shelters near me (a location message, or
`action=shelters`) and the orders in effect (`action=orders`) are answered here from
broadcaster.nearby. Whenever a resident's language or district changes (or they follow
again), the rich menu they should see is linked to them after the reply is sent. The
settings conversation itself is segments.enrollment; its outcome is stored here.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from linebot.v3.webhooks import (
    FollowEvent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)
from sqlmodel import Session, select

from broadcaster import nearby, rich_menus
from broadcaster.db import table_of
from broadcaster.kpis import friends
from broadcaster.replies import Reply
from broadcaster.settings import Settings
from broadcaster.webhook_commands import (
    POSTBACK_COMMANDS,
    POSTBACK_FIELD_COMMANDS,
    TEXT_COMMANDS,
    TEXT_FALLBACKS,
    run_command,
    with_fields,
    with_text,
)
from broadcaster.webhook_events import claim_event
from broadcaster.webhook_input import occurred_at
from segments import enrollment, follow
from segments.catalog import action_for_word, texts_for
from segments.choices import Choices, Options, Outcome
from segments.quick_replies import parse_postback
from segments.residents import (
    FollowState,
    Resident,
    ResidentInterest,
    ResidentOptOut,
    mask_user_id,
)

log = logging.getLogger(__name__)


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
                return run_command(
                    partial(with_fields, fields_command, fields), session, resident, now
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
            return run_command(command, session, resident, now)
        answer = enrollment.handle_text(_choices(session, resident), options, text)
        if answer is not None:
            return _store(session, resident, answer, now)
        word = action_for_word(text)
        answered = _action(session, settings, resident, word, now) if word else None
        if answered is not None:
            return answered
        for fallback in list(TEXT_FALLBACKS.values()):
            messages = run_command(with_text(fallback, text), session, resident, now)
            if messages:
                return messages
        texts = texts_for(resident.language, settings.residents.labels)
        return [{"type": "text", "text": texts("help.text", settings=texts.word("settings"))}]
    return []


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
    return run_command(command, session, resident, now)


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
