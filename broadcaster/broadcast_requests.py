"""A broadcast request, and every check it must pass before anything is stored.

The API, garbage reminders, emergencies and benefit notices all describe a broadcast as a
`BroadcastRequest` and pass it through `check_request`, so a template, a rule, LINE's
limits and quiet hours are checked once, the same way, whether the request is about to be
created (broadcaster.broadcast_creation), edited (broadcaster.broadcast_edits) or only
previewed. A refusal is `BroadcastRefused` (the API answers 422), naming the field to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from broadcaster import horizon, policies, quiet_hours
from broadcaster.broadcasts import Broadcast, BroadcastKind, Priority, is_emergency
from broadcaster.errors import FieldError, Refused
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
