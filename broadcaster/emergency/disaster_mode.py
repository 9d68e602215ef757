"""Disaster mode: routine notices wait while an evacuation order is on where they go.

While a live order of 警戒レベル3 or higher is active in a district, a routine broadcast
(anything below emergency priority) that would reach residents there is held: sending a
consumer tip to people evacuating from a flood is noise at best. It goes out after the lift
if still wanted, or its owner cancels it. The desk can turn the hold off per order
(`Emergency.hold_routine`). A drill never holds anything.

This module only decides; the dispatch path asks it (see `must_hold`) and owns the
broadcast's status. Which districts a broadcast reaches is read from its rule without
touching residents: a rule that does not pin districts (city-wide, by zone, by interest)
is taken to reach every district, which errs towards holding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcaster import lifecycle, policies, quiet_hours
from broadcaster.broadcasts import Broadcast, BroadcastKind, BroadcastStatus, Priority
from broadcaster.emergency.models import Emergency, EmergencyStatus
from broadcaster.render import Renderer
from broadcaster.settings import Settings

# 警戒レベル3 高齢者等避難 and above: from here residents are told to move.
HOLD_FROM_LEVEL = 3
LEVEL_LABELS = {3: "高齢者等避難", 4: "避難指示", 5: "緊急安全確保"}
# Statuses in which a held broadcast is still wanted (not sent, not cancelled by its owner).
ACTOR = "disaster-mode"
STILL_WANTED = frozenset(
    {BroadcastStatus.scheduled, BroadcastStatus.awaiting_approval, BroadcastStatus.held}
)


@dataclass(frozen=True)
class Hold:
    """Why a broadcast must wait: the orders and the districts they share with it."""

    emergency_ids: tuple[int, ...]
    districts: tuple[str, ...]
    # True when every district the broadcast reaches is held (nothing could go out now).
    whole: bool
    reason: str


def rule_districts(rule: Mapping[str, Any], all_districts: Sequence[str]) -> frozenset[str]:
    """The districts a segment rule can reach (all of them unless the rule pins them)."""
    everywhere = frozenset(all_districts)
    if not rule:
        return everywhere
    if "all" in rule:
        reach = everywhere
        for part in rule["all"]:
            reach &= rule_districts(part, all_districts)
        return reach
    if "any" in rule:
        reach = frozenset[str]()
        for part in rule["any"]:
            reach |= rule_districts(part, all_districts)
        return reach
    if rule.get("field") == "district":
        value = rule.get("value")
        if rule.get("op") == "eq" and isinstance(value, str):
            return everywhere & {value}
        if rule.get("op") == "in" and isinstance(value, list):
            return everywhere & {str(v) for v in value}
    return everywhere  # `not`, other fields, other operators: assume it reaches everyone


def is_routine(broadcast: Broadcast) -> bool:
    return broadcast.priority < Priority.emergency and broadcast.kind != BroadcastKind.emergency


def targets(session: Session, broadcast: Broadcast, all_districts: Sequence[str]) -> frozenset[str]:
    """The districts a broadcast reaches; a follow-up reaches its original's."""
    if broadcast.recipients_of is not None:
        original = session.get(Broadcast, broadcast.recipients_of)
        if original is not None:
            return rule_districts(original.rule, all_districts)
    return rule_districts(broadcast.rule, all_districts)


def holding_orders(session: Session, now: datetime) -> list[Emergency]:
    """Live orders of level 3+ active at `now` whose hold the desk has not turned off."""
    return list(
        session.exec(
            select(Emergency)
            .where(
                Emergency.status == EmergencyStatus.active,
                col(Emergency.drill).is_(False),
                col(Emergency.hold_routine).is_(True),
                col(Emergency.level) >= HOLD_FROM_LEVEL,
                col(Emergency.created_at) <= now,
            )
            .order_by(col(Emergency.id))
        ).all()
    )


def hold_for(
    reach: Iterable[str], orders: Sequence[Emergency], all_districts: Sequence[str]
) -> Hold | None:
    """The hold for a broadcast reaching `reach` under `orders`, or None (pure)."""
    wanted = set(reach)
    blocking = [e for e in orders if wanted & set(e.districts)]
    if not blocking:
        return None
    held = {d for e in blocking for d in e.districts} & wanted
    districts = tuple(d for d in all_districts if d in held)
    top = max(blocking, key=lambda e: e.level)
    reason = (
        f"災害モード：{'・'.join(districts)}地区に警戒レベル{top.level} "
        f"{LEVEL_LABELS.get(top.level, '')}（{top.kind}）が発令中のため保留しています。"
        "解除後に送信されます（不要なら取り消してください）"
    )
    return Hold(
        emergency_ids=tuple(e.id for e in blocking if e.id is not None),
        districts=districts,
        whole=held == wanted,
        reason=reason,
    )


def must_hold(
    session: Session, broadcast: Broadcast, all_districts: Sequence[str], now: datetime
) -> Hold | None:
    """Whether this broadcast must wait now, and why (None: send it). Emergencies and
    their follow-ups are never held."""
    if not is_routine(broadcast):
        return None
    return hold_for(
        targets(session, broadcast, all_districts), holding_orders(session, now), all_districts
    )


def releasable(
    session: Session, held: Iterable[Broadcast], all_districts: Sequence[str], now: datetime
) -> list[Broadcast]:
    """Of the broadcasts that were held, those to send now (after a lift, or the desk
    turning the hold off): still wanted by their owner and no longer held."""
    orders = holding_orders(session, now)
    return [
        b
        for b in held
        if b.status in STILL_WANTED
        and hold_for(targets(session, b, all_districts), orders, all_districts) is None
    ]


def rule_without(rule: Mapping[str, Any], districts: Sequence[str]) -> dict[str, Any]:
    """The rule narrowed to residents outside `districts` (to send a city-wide notice to
    everyone else now and hold only the held districts' part)."""
    outside = {"not": {"field": "district", "op": "in", "value": list(districts)}}
    return {"all": [dict(rule), outside]} if rule else outside


# -- wired into the one dispatch path (registered by `register`) ---------------------------


def defer(session: Session, broadcast: Broadcast, settings: Settings, now: datetime) -> str | None:
    """The deferral the dispatch path asks before sending a due broadcast."""
    held = must_hold(session, broadcast, settings.residents.districts, now)
    return held.reason if held is not None else None


def release_held(engine: Engine, settings: Settings, renderer: Renderer, now: datetime) -> int:
    """Each tick: broadcasts held for a disaster that is over (lifted, or the desk turned
    the hold off) are scheduled again, for now or the end of quiet hours; the next tick
    sends them. Returns how many were released."""
    with Session(engine, expire_on_commit=False) as session:
        held = session.exec(
            select(Broadcast).where(col(Broadcast.status) == BroadcastStatus.held)
        ).all()
        if not held:
            return 0
        ready = releasable(session, held, settings.residents.districts, now)
        send_at = quiet_hours.next_allowed(now, settings.quiet_hours, settings.tz)
        released = sum(lifecycle.release(session, b, send_at, actor=ACTOR, now=now) for b in ready)
        session.commit()
        return int(released)


def register() -> None:
    policies.register_deferral("disaster_mode", defer)
    policies.register_tick("disaster_mode.release", release_held)
