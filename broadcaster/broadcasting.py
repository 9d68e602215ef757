"""Creating and changing broadcasts: the one path every send goes through.

The API, garbage reminders, emergencies and benefit notices all call `create_broadcast`,
so a template, a rule, LINE's limits and quiet hours are checked once, the same way,
before anything is stored. Refusals are `BroadcastRefused` (the API answers 422); a change
to a broadcast that is past changing is `BroadcastConflict` (409). Each function works in
the caller's transaction and writes its audit entry there, so the change and its record
land together or not at all; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from broadcaster import audit, horizon, quiet_hours
from broadcaster.broadcasts import EDITABLE, Broadcast, BroadcastKind, BroadcastStatus, Priority
from broadcaster.errors import Conflict, FieldError, Refused
from broadcaster.recurrence import RecurrenceError, next_time, parse_recurrence
from broadcaster.render import MessageLimitError, PreparedTemplate, Renderer, TemplateError
from broadcaster.settings import Settings
from segments.rules import FieldCatalog, RuleError, parse_rule, rule_to_json

# A send_at this far in the past is taken as "now" (clock skew, a slow form), not refused.
PAST_TOLERANCE = timedelta(minutes=1)
UNSET: Any = object()


class BroadcastRefused(Refused, ValueError):
    """The request cannot become a broadcast. `field` names the part to fix."""

    def __init__(self, message: str, field: str) -> None:
        # The error contract (broadcaster.errors): code, the message as written, the field.
        super().__init__("broadcast.refused", message, errors=[FieldError(field, text=message)])
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


def snapshot(broadcast: Broadcast) -> dict[str, Any]:
    """The row as JSON, for audit before/after."""
    return broadcast.model_dump(mode="json")


def audit_change(
    session: Session,
    broadcast: Broadcast,
    action: str,
    *,
    actor: str,
    now: datetime,
    before: dict[str, Any] | None = None,
) -> None:
    """Audit a change to `broadcast` in the caller's transaction, with its state now."""
    audit.record(
        session,
        at=now,
        actor=actor,
        action=action,
        entity="broadcast",
        entity_id=broadcast.id,
        department_id=broadcast.department_id,
        before=before,
        after=snapshot(broadcast),
    )


def _exempt(request: BroadcastRequest) -> bool:
    return request.priority >= Priority.emergency or request.bypass_limits


def _resolve_rule(
    session: Session, request: BroadcastRequest, settings: Settings
) -> tuple[dict[str, Any], int | None]:
    if request.segment_id is not None and request.rule is not None:
        raise BroadcastRefused("give either segment_id or rule, not both", "segment_id")
    version: int | None = None
    raw: object = request.rule
    if request.segment_id is not None:
        from segments.saved import current_version

        found = current_version(session, request.segment_id)
        if found is None:
            raise BroadcastRefused(f"segment {request.segment_id} does not exist", "segment_id")
        version, raw = found.version, found.rule
    if not raw:
        return {}, version
    try:
        rule = parse_rule(raw, FieldCatalog.from_settings(settings.residents))
    except RuleError as exc:
        where = f"rule.{exc.path}" if exc.path else "rule"
        raise BroadcastRefused(f"{where}: {exc.message}", where) from None
    return rule_to_json(rule), version


def _resolve_send_at(request: BroadcastRequest, settings: Settings, now: datetime) -> datetime:
    send_at = request.send_at or now
    if send_at.tzinfo is None:
        send_at = send_at.replace(tzinfo=settings.tz)
    # The scheduling horizon (broadcaster.horizon, issue 12).
    if beyond := horizon.refusal(send_at, settings, now):
        raise BroadcastRefused(beyond, "send_at")
    if send_at < now - PAST_TOLERANCE:
        raise BroadcastRefused(
            f"send_at {send_at.astimezone(settings.tz):%Y-%m-%d %H:%M} JST is in the past",
            "send_at",
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
        raise BroadcastRefused("title must not be empty", "title")
    if len(request.title) > 200:
        raise BroadcastRefused("title is longer than 200 characters", "title")
    categories = settings.residents.categories
    if request.category not in categories:
        raise BroadcastRefused(
            f"unknown category {request.category!r}; one of: {', '.join(categories)}",
            "category",
        )
    if (request.template_name is None) == (request.template_text is None):
        raise BroadcastRefused("give exactly one of template_name and template_text", "template")
    try:
        prepared = renderer.prepare(
            template_name=request.template_name,
            template_text=request.template_text,
            parameters=dict(request.parameters),
            # An emergency is never refused for its rendering: each context that fails
            # is sent as plain text instead (emergency.orders.emergency_render).
            trial=request.priority < Priority.emergency,
        )
    except MessageLimitError as exc:
        raise BroadcastRefused(f"LINE limits: {exc}", "messages") from None
    except TemplateError as exc:
        raise BroadcastRefused(f"template: {exc}", "template") from None
    rule, version = _resolve_rule(session, request, settings)
    if request.recipients_of is not None and session.get(Broadcast, request.recipients_of) is None:
        raise BroadcastRefused(
            f"broadcast {request.recipients_of} (recipients_of) does not exist", "recipients_of"
        )
    if request.recurrence is not None:
        try:
            parse_recurrence(request.recurrence, settings.tz)
        except RecurrenceError as exc:
            raise BroadcastRefused(str(exc), "recurrence") from None
    send_at = _resolve_send_at(request, settings, now)
    if not (_exempt(request) or request.quiet_hours_exempt):
        refused = quiet_hours.refusal(send_at, settings.quiet_hours, settings.tz)
        if refused:
            raise BroadcastRefused(refused, "send_at")
        if request.recurrence is not None and not _fires_outside_quiet_hours(
            request.recurrence, send_at, settings
        ):
            raise BroadcastRefused(
                f"recurrence {request.recurrence!r}: every firing falls in quiet hours "
                f"{quiet_hours.window_label(settings.quiet_hours)}",
                "recurrence",
            )
    if request.digest:
        if not settings.frequency.digest_enabled:
            raise BroadcastRefused("digest delivery is off (frequency.digest_enabled)", "digest")
        if _exempt(request):
            raise BroadcastRefused("an emergency is never held for the digest", "digest")
    return Checked(send_at=send_at, rule=rule, segment_version=version, prepared=prepared)


def _initial_status(request: BroadcastRequest, settings: Settings, needs_approval: bool) -> str:
    if request.draft:
        return BroadcastStatus.draft
    if (
        needs_approval
        and settings.scheduling.approval_required
        and request.priority < Priority.emergency
    ):
        return BroadcastStatus.awaiting_approval
    return BroadcastStatus.scheduled


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
    broadcast = Broadcast(
        department_id=department_id,
        title=request.title,
        category=request.category,
        kind=request.kind,
        priority=int(request.priority),
        status=_initial_status(request, settings, needs_approval),
        template_name=request.template_name,
        template_text=request.template_text,
        parameters=dict(request.parameters),
        segment_id=request.segment_id,
        segment_version=checked.segment_version,
        rule=checked.rule,
        recipients_of=request.recipients_of,
        send_at=checked.send_at,
        recurrence=request.recurrence,
        bypass_limits=request.bypass_limits,
        quiet_hours_exempt=request.quiet_hours_exempt,
        drill=request.drill,
        parent_id=request.parent_id,
        source=request.source,
        created_by=actor_label,
        created_at=now,
        updated_at=now,
    )
    session.add(broadcast)
    session.flush()
    if request.digest:
        from broadcaster.digest import mark_for_digest

        mark_for_digest(session, broadcast)
    audit_change(session, broadcast, "broadcast.create", actor=actor_label, now=now)
    return broadcast


def request_from(broadcast: Broadcast) -> BroadcastRequest:
    """The request that would recreate `broadcast` (the base an update edits)."""
    from broadcaster.digest import is_marked

    return BroadcastRequest(
        title=broadcast.title,
        category=broadcast.category,
        template_name=broadcast.template_name,
        template_text=broadcast.template_text,
        parameters=broadcast.parameters,
        segment_id=broadcast.segment_id,
        rule=None if broadcast.segment_id is not None else (broadcast.rule or None),
        send_at=broadcast.send_at,
        recurrence=broadcast.recurrence,
        draft=broadcast.status == BroadcastStatus.draft,
        kind=broadcast.kind,
        priority=broadcast.priority,
        bypass_limits=broadcast.bypass_limits,
        parent_id=broadcast.parent_id,
        recipients_of=broadcast.recipients_of,
        drill=broadcast.drill,
        source=broadcast.source,
        digest=is_marked(broadcast),
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
    before = snapshot(broadcast)
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
    for name in (
        "title",
        "category",
        "template_name",
        "template_text",
        "segment_id",
        "recipients_of",
        "recurrence",
    ):
        setattr(broadcast, name, getattr(request, name))
    broadcast.parameters = dict(request.parameters)
    broadcast.rule = checked.rule
    broadcast.segment_version = checked.segment_version
    broadcast.send_at = checked.send_at
    broadcast.status = _initial_status(request, settings, needs_approval)
    if broadcast.status != BroadcastStatus.scheduled:
        broadcast.approved_by = None
    broadcast.updated_at = now
    session.add(broadcast)
    from broadcaster.digest import mark_for_digest, unmark

    if request.digest:
        mark_for_digest(session, broadcast)
    else:
        unmark(session, broadcast)
    session.flush()
    audit_change(session, broadcast, "broadcast.update", actor=actor_label, now=now, before=before)
    return broadcast


def cancel_broadcast(
    session: Session, broadcast: Broadcast, actor_label: str, now: datetime
) -> Broadcast:
    """Cancel before it is sent. Raises BroadcastConflict once sending or finished."""
    if broadcast.status not in EDITABLE:
        raise BroadcastConflict(broadcast, "cancelled")
    before = snapshot(broadcast)
    broadcast.status = BroadcastStatus.cancelled
    broadcast.status_reason = f"cancelled by {actor_label}"
    broadcast.finished_at = now
    broadcast.updated_at = now
    session.add(broadcast)
    session.flush()
    audit_change(session, broadcast, "broadcast.cancel", actor=actor_label, now=now, before=before)
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
        )
    before = snapshot(broadcast)
    broadcast.status = BroadcastStatus.scheduled
    broadcast.approved_by = actor_label
    broadcast.updated_at = now
    session.add(broadcast)
    session.flush()
    audit_change(session, broadcast, "broadcast.approve", actor=actor_label, now=now, before=before)
    return broadcast
