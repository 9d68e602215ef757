"""From a broadcast row to a dispatch plan: who receives it, what they see, who is over cap.

The plan is what `broadcaster.outbox.dispatch` executes. Everything a send depends on is
decided here, in one place: the stored rule (copied at creation), opt-outs, follow-ups to
an earlier broadcast's recipients, caps and exemptions. What a kind does differently
(a benefit notice's recorded recipients, a digest's items, an emergency's hardened
render) comes from its registered policy; this module names no feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from broadcaster import frequency, ledger, quiet_hours
from broadcaster.broadcasts import Broadcast, is_emergency
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.limits import gate
from broadcaster.outbox import DispatchPlan
from broadcaster.policies import Limit, Rendering, exempt, policy_for
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from segments.audience import audience_filter
from segments.fields import FieldCatalog
from segments.residents import Resident
from segments.rule_parser import parse_rule
from segments.rules import Rule

# A follow-up (correction, emergency update) goes to whoever the original reached, or may
# still reach: not to those it failed for or skipped.
FOLLOW_UP_STATUSES = (DeliveryStatus.accepted, DeliveryStatus.queued, DeliveryStatus.unknown)


class HeldByQuietHours(RuntimeError):
    """A non-exempt send was about to be released inside quiet hours."""


def stored_rule(broadcast: Broadcast, settings: Settings) -> Rule | None:
    """The rule copied onto the broadcast at creation; an empty rule means everyone."""
    if not broadcast.rule:
        return None
    return parse_rule(broadcast.rule, FieldCatalog.from_settings(settings.residents))


def audience_for(broadcast: Broadcast, settings: Settings) -> sa.ColumnElement[bool]:
    """The WHERE clause over Resident for this broadcast (also used by previews)."""
    policy = policy_for(broadcast.kind)
    if policy.audience is not None:
        return policy.audience(broadcast, settings)
    on = broadcast.send_at.astimezone(settings.tz).date()
    respect = not exempt(broadcast, Limit.opt_outs)
    if broadcast.recipients_of is not None:
        # Still following (a blocked account cannot be reached), recipients of the original.
        reached = sa.select(col(Delivery.resident_id)).where(
            col(Delivery.broadcast_id) == broadcast.recipients_of,
            col(Delivery.status).in_([status.value for status in FOLLOW_UP_STATUSES]),
        )
        return sa.and_(
            audience_filter(None, on=on, category=broadcast.category, respect_opt_outs=respect),
            col(Resident.id).in_(reached),
        )
    return audience_filter(
        stored_rule(broadcast, settings),
        on=on,
        category=broadcast.category,
        respect_opt_outs=respect,
    )


def renderer_for(session: Session, broadcast: Broadcast, renderer: Renderer) -> Rendering:
    """(context fields, render function) for the broadcast's messages."""
    policy = policy_for(broadcast.kind)
    if policy.rendering is not None:
        fields, render = policy.rendering(session, broadcast, renderer)
    else:
        prepared = renderer.prepare(
            template_name=broadcast.template_name,
            template_text=broadcast.template_text,
            parameters=broadcast.parameters,
            # An emergency is never refused for its rendering (its policy hardens it).
            trial=not is_emergency(broadcast.priority),
        )
        fields, render = tuple(prepared.resident_fields), prepared.render
    if policy.harden is not None:
        hardened = policy.harden(broadcast, render)

        def render(context: Mapping[str, Any]) -> list[dict[str, Any]]:
            # A feature's edit of the rendered messages passes LINE's gate like any other.
            return gate(hardened(context))

    return fields, render


def held_by_quiet_hours(broadcast: Broadcast, settings: Settings, at: datetime) -> bool:
    """Whether quiet hours keep `broadcast` from being released at `at`."""
    return not exempt(broadcast, Limit.quiet_hours) and quiet_hours.in_quiet_hours(
        at, settings.quiet_hours, settings.tz
    )


def plan_for(
    session: Session,
    broadcast: Broadcast,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    mind_quiet_hours: bool = True,
) -> DispatchPlan:
    """The plan for sending `broadcast` at `now`.

    Raises HeldByQuietHours for a non-exempt broadcast inside quiet hours (unless
    `mind_quiet_hours` is False: a resumed dispatch finishes what was released), and the
    renderer's TemplateError if the template no longer prepares (e.g. a template file was
    removed after creation).
    """
    if mind_quiet_hours and held_by_quiet_hours(broadcast, settings, now):
        raise HeldByQuietHours(
            f"broadcast {broadcast.id} not released: {now.astimezone(settings.tz):%H:%M} JST "
            f"is inside quiet hours {quiet_hours.window_label(settings.quiet_hours)}"
        )
    over_cap = (
        None
        if exempt(broadcast, Limit.cap)
        else frequency.over_cap_filter(
            settings.frequency, settings.tz, now, exclude_broadcast_id=broadcast.id
        )
    )

    # Caps and follow-ups read residents' Delivery rows: have the ledger write those of
    # batches still being sent first (usually none, or the few of one broadcast).
    if over_cap is not None:
        ledger.catch_up(session, now)
    elif broadcast.recipients_of is not None:
        ledger.catch_up(session, now, [broadcast.recipients_of])
    fields, render = renderer_for(session, broadcast, renderer)
    return DispatchPlan(
        audience=audience_for(broadcast, settings),
        context_fields=fields,
        render=render,
        over_cap=over_cap,
    )
