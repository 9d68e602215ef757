"""Creating and changing broadcasts: the one path every send goes through.

(`broadcasts` is the model and its states; this module is what staff and features do
with it.)

The API, garbage reminders, emergencies and benefit notices all call `create_broadcast`,
so a template, a rule, LINE's limits and quiet hours are checked once, the same way,
before anything is stored. Refusals are `BroadcastRefused` (the API answers 422); a change
to a broadcast that is past changing is `BroadcastConflict` (409). Each function works in
the caller's transaction and writes its audit entry there, so the change and its record
land together or not at all; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from broadcaster import horizon, lifecycle, policies, quiet_hours
from broadcaster.broadcasts import (
    EDITABLE,
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    Priority,
    is_emergency,
)
from broadcaster.errors import Conflict, FieldError, Refused
from broadcaster.limits import MessageLimitError
from broadcaster.policies import Limit, exempt
from broadcaster.recurrence import RecurrenceError, next_time, parse_recurrence
from broadcaster.render import PreparedTemplate, Renderer, TemplateError
from broadcaster.settings import Settings
from segments.fields import FieldCatalog
from segments.rule_errors import RuleError
from segments.rule_parser import parse_rule
from segments.rules import rule_to_json
from segments.saved import current_version

# A send_at this far in the past is taken as "now" (clock skew, a slow form), not refused.
PAST_TOLERANCE = timedelta(minutes=1)
UNSET: Any = object()


class BroadcastRefused(Refused, ValueError):
    """The request cannot become a broadcast. `field` names the part to fix."""

    def __init__(self, message: str, field: str, code: str = "", **params: Any) -> None:
        # The error contract (broadcaster.errors): code, the message as written, the field;
        # `code` and `params` word the field's message in the reader's language (catalog).
        super().__init__(
            "broadcast.refused",
            message,
            errors=[FieldError(field, code=code, params=params, text=message)],
        )
        self.message = message
        self.field = field


class BroadcastConflict(Conflict, RuntimeError):
    """The broadcast is in a status that does not allow this change."""

    def __init__(self, broadcast: Broadcast, action: str) -> None:
        super().__init__(
            "broadcast.conflict",
            f"broadcast {broadcast.id} is {broadcast.status}; it can no longer be {action}",
            ident=broadcast.id,
            status=str(broadcast.status),
        )
        self.status = broadcast.status


@dataclass(frozen=True)
class BroadcastRequest:
    """What a caller asks for. Times: aware, or naive meaning the city's zone; None = now."""

    title: str
    category: str
    template_name: str | None = None
    template_text: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    segment_id: int | None = None
    rule: Mapping[str, Any] | None = None
    send_at: datetime | None = None
    recurrence: str | None = None
    draft: bool = False
    kind: str = BroadcastKind.announcement
    priority: int = Priority.normal
    bypass_limits: bool = False
    quiet_hours_exempt: bool = False
    parent_id: int | None = None
    recipients_of: int | None = None
    drill: bool = False
    source: dict[str, Any] | None = None
    # Fold into the day's まとめ配信 instead of sending at send_at (settings.frequency).
    digest: bool = False


@dataclass(frozen=True)
class Checked:
    """A request that passed every check, with the values to store."""

    send_at: datetime
    rule: dict[str, Any]
    segment_version: int | None
    prepared: PreparedTemplate


def _resolve_rule(
    session: Session, request: BroadcastRequest, settings: Settings
) -> tuple[dict[str, Any], int | None]:
    if request.segment_id is not None and request.rule is not None:
        raise BroadcastRefused(
            "give either segment_id or rule, not both", "segment_id", "broadcast.rule_or_segment"
        )
    version: int | None = None
    raw: object = request.rule
    if request.segment_id is not None:
        found = current_version(session, request.segment_id)
        if found is None:
            raise BroadcastRefused(
                f"segment {request.segment_id} does not exist",
                "segment_id",
                "not_found.segment",
                ident=request.segment_id,
            )
        version, raw = found.version, found.rule
    if not raw:
        return {}, version
    try:
        rule = parse_rule(raw, FieldCatalog.from_settings(settings.residents))
    except RuleError as exc:
        where = f"rule.{exc.path}" if exc.path else "rule"
        raise BroadcastRefused(
            f"{where}: {exc.message}", where, exc.code, **exc.params
        ) from None
    return rule_to_json(rule), version


def _resolve_send_at(request: BroadcastRequest, settings: Settings, now: datetime) -> datetime:
    send_at = request.send_at or now
    if send_at.tzinfo is None:
        send_at = send_at.replace(tzinfo=settings.tz)
    # The scheduling horizon (broadcaster.horizon, issue 12).
    if beyond := horizon.refusal(send_at, settings, now):
        raise BroadcastRefused(
            beyond,
            "send_at",
            "broadcast.beyond_horizon",
            date=f"{send_at.astimezone(settings.tz):%Y-%m-%d}",
            days=settings.scheduling.horizon_days,
        )
    if send_at < now - PAST_TOLERANCE:
        raise BroadcastRefused(
            f"send_at {send_at.astimezone(settings.tz):%Y-%m-%d %H:%M} JST is in the past",
            "send_at",
            "broadcast.in_the_past",
            at=f"{send_at.astimezone(settings.tz):%Y-%m-%d %H:%M}",
        )
    return max(send_at, now) if send_at < now else send_at


def _fires_outside_quiet_hours(expression: str, start: datetime, settings: Settings) -> bool:
    """Whether a recurrence has a firing outside quiet hours (within its next 400)."""
    when = start
    for _ in range(400):
        found = next_time(expression, when, settings.tz)
        if found is None:
            return False
        when = found
        if not quiet_hours.in_quiet_hours(when, settings.quiet_hours, settings.tz):
            return True
    return False


def check_request(
    session: Session,
    request: BroadcastRequest,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> Checked:
    """Every check a broadcast must pass. Raises BroadcastRefused naming the field."""
    if not request.title.strip():
        raise BroadcastRefused("title must not be empty", "title", "broadcast.title_empty")
    if len(request.title) > 200:
        raise BroadcastRefused(
            "title is longer than 200 characters", "title", "broadcast.title_too_long", max=200
        )
    categories = settings.residents.categories
    if request.category not in categories:
        raise BroadcastRefused(
            f"unknown category {request.category!r}; one of: {', '.join(categories)}",
            "category",
            "category.unknown",
            category=request.category,
            known=", ".join(categories),
        )
    if (request.template_name is None) == (request.template_text is None):
        raise BroadcastRefused(
            "give exactly one of template_name and template_text",
            "template",
            "broadcast.one_template",
        )
    try:
        prepared = renderer.prepare(
            template_name=request.template_name,
            template_text=request.template_text,
            parameters=dict(request.parameters),
            # An emergency is never refused for its rendering: each context that fails
            # is sent as plain text instead (its policy hardens the render).
            trial=not is_emergency(request.priority),
        )
    except MessageLimitError as exc:
        raise BroadcastRefused(
            f"LINE limits: {exc}", "messages", "broadcast.line_limits", problem=str(exc)
        ) from None
    except TemplateError as exc:
        raise BroadcastRefused(f"template: {exc}", "template", exc.code, **exc.params) from None
    rule, version = _resolve_rule(session, request, settings)
    if request.recipients_of is not None and session.get(Broadcast, request.recipients_of) is None:
        raise BroadcastRefused(
            f"broadcast {request.recipients_of} (recipients_of) does not exist",
            "recipients_of",
            "not_found.broadcast",
            ident=request.recipients_of,
        )
    if request.recurrence is not None:
        try:
            parse_recurrence(request.recurrence, settings.tz)
        except RecurrenceError as exc:
            raise BroadcastRefused(str(exc), "recurrence", exc.code, **exc.params) from None
    send_at = _resolve_send_at(request, settings, now)
    if not exempt(request, Limit.quiet_hours):
        refused = quiet_hours.refusal(send_at, settings.quiet_hours, settings.tz)
        if refused:
            suggested = quiet_hours.next_allowed(send_at, settings.quiet_hours, settings.tz)
            raise BroadcastRefused(
                refused,
                "send_at",
                "broadcast.quiet_hours",
                at=f"{send_at.astimezone(settings.tz):%Y-%m-%d %H:%M}",
                window=quiet_hours.window_label(settings.quiet_hours),
                next=f"{suggested:%Y-%m-%d %H:%M}",
            )
        if request.recurrence is not None and not _fires_outside_quiet_hours(
            request.recurrence, send_at, settings
        ):
            raise BroadcastRefused(
                f"recurrence {request.recurrence!r}: every firing falls in quiet hours "
                f"{quiet_hours.window_label(settings.quiet_hours)}",
                "recurrence",
                "broadcast.recurrence_quiet",
                recurrence=request.recurrence,
                window=quiet_hours.window_label(settings.quiet_hours),
            )
    if request.digest:
        hold = policies.hold()
        refusal = (
            "digest delivery is not available" if hold is None else hold.check(request, settings)
        )
        if refusal:
            raise BroadcastRefused(refusal, "digest", "broadcast.digest", problem=refusal)
    return Checked(send_at=send_at, rule=rule, segment_version=version, prepared=prepared)


def _initial_status(
    request: BroadcastRequest, settings: Settings, needs_approval: bool
) -> BroadcastStatus:
    if request.draft:
        return BroadcastStatus.draft
    if (
        needs_approval
        and settings.scheduling.approval_required
        and not is_emergency(request.priority)
    ):
        return BroadcastStatus.awaiting_approval
    return BroadcastStatus.scheduled


# The request fields stored as they are; the rest are checked values or not columns.
_STORED = tuple(
    f.name
    for f in fields(BroadcastRequest)
    if f.name in Broadcast.model_fields
    and f.name not in ("send_at", "rule", "parameters", "priority")
)


def unsaved(
    request: BroadcastRequest, checked: Checked, department_id: int, actor_label: str, now: datetime
) -> Broadcast:
    """The broadcast `request` describes, not yet added: every field of the request that
    is a column is copied by name, so none can be forgotten (a preview plans this too)."""
    return Broadcast(
        **{name: getattr(request, name) for name in _STORED},
        department_id=department_id,
        priority=policies.priority_of(request),
        parameters=dict(request.parameters),
        segment_version=checked.segment_version,
        rule=checked.rule,
        send_at=checked.send_at,
        created_by=actor_label,
        created_at=now,
        updated_at=now,
    )


def create_broadcast(
    session: Session,
    actor_label: str,
    department_id: int,
    request: BroadcastRequest,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    needs_approval: bool = False,
) -> Broadcast:
    """Check `request` and add the broadcast (flushed, not committed) with its audit entry.

    `needs_approval`: the caller's role must have an admin approve it when
    settings.scheduling.approval_required (the API passes True for non-admins; system
    callers leave it False). Emergencies never wait. Raises BroadcastRefused.
    """
    checked = check_request(session, request, settings, renderer, now)
    broadcast = lifecycle.add(
        session,
        unsaved(request, checked, department_id, actor_label, now),
        _initial_status(request, settings, needs_approval),
        actor=actor_label,
        now=now,
    )
    hold = policies.hold()
    if request.digest and hold is not None:
        hold.mark(session, broadcast)
    return broadcast


def request_from(broadcast: Broadcast) -> BroadcastRequest:
    """The request that would recreate `broadcast` (the base an update edits): every
    request field that is a column is read by name, so an edit keeps what it did not
    change (a garbage reminder's quiet_hours_exempt, say)."""
    hold = policies.hold()
    return BroadcastRequest(
        **{name: getattr(broadcast, name) for name in _STORED},
        priority=broadcast.priority,
        parameters=broadcast.parameters,
        rule=None if broadcast.segment_id is not None else (broadcast.rule or None),
        send_at=broadcast.send_at,
        draft=broadcast.status == BroadcastStatus.draft,
        digest=hold is not None and hold.is_marked(broadcast),
    )


def update_broadcast(
    session: Session,
    broadcast: Broadcast,
    actor_label: str,
    changes: Mapping[str, Any],
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    needs_approval: bool = False,
) -> Broadcast:
    """Apply `changes` (BroadcastRequest field names) and check the result as at creation.

    Setting `rule` drops the saved segment and vice versa; `draft: False` schedules a draft.
    An edit of an approved broadcast sends it back for approval when `needs_approval`.
    Raises BroadcastConflict once it is sending or finished, BroadcastRefused when invalid.
    """
    if broadcast.status not in EDITABLE:
        raise BroadcastConflict(broadcast, "edited")
    before = lifecycle.snapshot(broadcast)
    base = request_from(broadcast)
    updates = dict(changes)
    if "rule" in updates and "segment_id" not in updates:
        updates["segment_id"] = None
    if "segment_id" in updates and "rule" not in updates:
        updates["rule"] = None
    if "template_text" in updates and "template_name" not in updates:
        updates["template_name"] = None
    if "template_name" in updates and "template_text" not in updates:
        updates["template_text"] = None
    request = replace(base, **updates)
    checked = check_request(session, request, settings, renderer, now)
    edited = unsaved(request, checked, broadcast.department_id, broadcast.created_by, now)
    for name in (*_STORED, "priority", "parameters", "rule", "segment_version", "send_at"):
        setattr(broadcast, name, getattr(edited, name))
    broadcast.updated_at = now
    session.add(broadcast)
    hold = policies.hold()
    if hold is not None and request.digest:
        hold.mark(session, broadcast)
    elif hold is not None:
        hold.unmark(session, broadcast)
    if not lifecycle.settle_edit(
        session,
        broadcast,
        _initial_status(request, settings, needs_approval),
        actor=actor_label,
        now=now,
        before=before,
    ):
        raise BroadcastConflict(broadcast, "edited")
    return broadcast


def cancel_broadcast(
    session: Session, broadcast: Broadcast, actor_label: str, now: datetime
) -> Broadcast:
    """Cancel before it is sent. Raises BroadcastConflict once sending or finished."""
    if not lifecycle.cancel(session, broadcast, actor=actor_label, now=now):
        session.refresh(broadcast)
        raise BroadcastConflict(broadcast, "cancelled")
    return broadcast


def approve_broadcast(
    session: Session, broadcast: Broadcast, actor_label: str, settings: Settings, now: datetime
) -> Broadcast:
    """An admin's approval: awaiting_approval -> scheduled.

    Raises BroadcastConflict in any other status, BroadcastRefused when its send time has
    passed by more than the allowed lateness (edit send_at first: it would only expire).
    """
    if broadcast.status != BroadcastStatus.awaiting_approval:
        raise BroadcastConflict(broadcast, "approved")
    lateness = timedelta(minutes=settings.scheduling.max_lateness_minutes)
    if now - broadcast.send_at > lateness:
        raise BroadcastRefused(
            f"send_at {broadcast.send_at.astimezone(settings.tz):%Y-%m-%d %H:%M} JST has passed; "
            "set a new send_at before approving",
            "send_at",
            "broadcast.approval_too_late",
            at=f"{broadcast.send_at.astimezone(settings.tz):%Y-%m-%d %H:%M}",
        )
    if not lifecycle.approve(session, broadcast, actor=actor_label, now=now):
        session.refresh(broadcast)
        raise BroadcastConflict(broadcast, "approved")
    return broadcast
