"""From a broadcast row to a dispatch plan: who receives it, what they see, who is over cap.

The plan is what `broadcaster.outbox.dispatch` executes. Everything a send depends on is
decided here, in one place: the stored rule (copied at creation), opt-outs, follow-ups to
an earlier broadcast's recipients, caps, and the emergency exemptions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from broadcaster import frequency, ledger, quiet_hours
from broadcaster.benefits.models import BenefitNotification
from broadcaster.broadcasts import Broadcast, BroadcastKind, Priority
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.digest import digest_audience, digest_render
from broadcaster.outbox import DispatchPlan
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from segments.audience import audience_filter
from segments.residents import Resident
from segments.rules import FieldCatalog, Rule, parse_rule

# A follow-up (correction, emergency update) goes to whoever the original reached, or may
# still reach: not to those it failed for or skipped.
FOLLOW_UP_STATUSES = (DeliveryStatus.accepted, DeliveryStatus.queued, DeliveryStatus.unknown)


class HeldByQuietHours(RuntimeError):
    """A non-emergency send was about to be released inside quiet hours."""


def is_emergency(broadcast: Broadcast) -> bool:
    return broadcast.priority >= Priority.emergency


def exempt_from_limits(broadcast: Broadcast) -> bool:
    """Emergencies and explicit bypasses ignore quiet hours, caps and opt-outs."""
    return is_emergency(broadcast) or broadcast.bypass_limits


def ignores_quiet_hours(broadcast: Broadcast) -> bool:
    """Exempt from limits, or sent at a time the residents themselves chose."""
    return exempt_from_limits(broadcast) or broadcast.quiet_hours_exempt


def stored_rule(broadcast: Broadcast, settings: Settings) -> Rule | None:
    """The rule copied onto the broadcast at creation; an empty rule means everyone."""
    if not broadcast.rule:
        return None
    return parse_rule(broadcast.rule, FieldCatalog.from_settings(settings.residents))


def audience_for(broadcast: Broadcast, settings: Settings) -> sa.ColumnElement[bool]:
    """The WHERE clause over Resident for this broadcast (also used by previews)."""
    on = broadcast.send_at.astimezone(settings.tz).date()
    respect = not exempt_from_limits(broadcast)
    if broadcast.kind == BroadcastKind.digest:
        # Opt-outs were applied to each notice when it was folded.
        return sa.and_(audience_filter(None, on=on, category=None), digest_audience(broadcast))
    if broadcast.kind == BroadcastKind.benefit:
        # Exactly the residents recorded as notified with this broadcast, never its rule
        # again: a resumed dispatch must not reach someone an earlier notice already told.
        recorded = sa.select(col(BenefitNotification.resident_id)).where(
            col(BenefitNotification.broadcast_id) == broadcast.id
        )
        return sa.and_(audience_filter(None, on=on, category=None), col(Resident.id).in_(recorded))
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


def renderer_for(
    session: Session, broadcast: Broadcast, renderer: Renderer
) -> tuple[tuple[str, ...], Callable[[Mapping[str, Any]], list[dict[str, Any]]]]:
    """(context fields, render function) for the broadcast's messages."""
    if broadcast.kind == BroadcastKind.digest:
        return digest_render(broadcast, session, renderer)
    emergency = is_emergency(broadcast)
    prepared = renderer.prepare(
        template_name=broadcast.template_name,
        template_text=broadcast.template_text,
        parameters=broadcast.parameters,
        trial=not emergency,
    )
    if emergency:
        from broadcaster.emergency.orders import emergency_render

        return tuple(prepared.resident_fields), emergency_render(broadcast, prepared.render)
    return tuple(prepared.resident_fields), prepared.render


def plan_for(
    session: Session,
    broadcast: Broadcast,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> DispatchPlan:
    """The plan for sending `broadcast` at `now`.

    Raises HeldByQuietHours for a non-exempt broadcast inside quiet hours (the scheduler
    decides what happens to it), and the renderer's TemplateError if the template no longer
    prepares (e.g. a template file was removed after creation).
    """
    exempt = exempt_from_limits(broadcast)
    if not ignores_quiet_hours(broadcast) and quiet_hours.in_quiet_hours(
        now, settings.quiet_hours, settings.tz
    ):
        raise HeldByQuietHours(
            f"broadcast {broadcast.id} not released: {now.astimezone(settings.tz):%H:%M} JST "
            f"is inside quiet hours {quiet_hours.window_label(settings.quiet_hours)}"
        )
    # A benefit notice's recipients are recorded as notified before it is sent, so none
    # may be skipped for the cap.
    over_cap = (
        None
        if exempt or broadcast.kind == BroadcastKind.benefit
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
