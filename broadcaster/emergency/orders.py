"""Evacuation orders (避難情報): from the disaster desk's request to broadcasts sent now.

An order ignores quiet hours, frequency caps and opt-outs (priority emergency,
bypass_limits) and is dispatched in the request itself, so its batches overtake all queued
work. Refusing to send is reserved for what is certainly a mistake (no district, a district
we do not have, an unknown level or kind); nothing about the time of day or the number of
messages a resident already got can stop it. Follow-ups (updates and 解除) go to whoever
the original order reached, even a resident who has since moved district.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from broadcaster import outbox
from broadcaster.broadcasting import BroadcastRefused, BroadcastRequest, create_broadcast
from broadcaster.broadcasts import Broadcast, BroadcastKind, Priority
from broadcaster.dispatch import dispatch_broadcast
from broadcaster.emergency import policy
from broadcaster.emergency.models import Emergency, EmergencyStatus
from broadcaster.emergency.policy import DRILL_MARK, LIFT_TEMPLATE
from broadcaster.emergency.shelters import DISASTER_KINDS, Shelter, open_shelters
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from segments.residents import FollowState, Resident

LEVEL_LABELS: Mapping[int, str] = {3: "高齢者等避難", 4: "避難指示", 5: "緊急安全確保"}
ORDER_TEMPLATE = "evacuation"
LIFT_FALLBACK_TEXT = """{% if drill %}【訓練】これは訓練です。
{% endif %}【解除】{{ level_label }}（{{ disaster_kind }}）を{{ issued_time }}に解除しました。
対象地区：{{ districts|join("・") }}
{% if text %}{{ text }}
{% endif %}引き続き周囲の状況に注意してください。"""
# Category the order is filed under; emergencies ignore opt-outs, so it only labels reports.
CATEGORY = "general"
# LINE takes at most 5 message objects per request: one order text and 4 shelters.
MAX_SHELTERS = 4
# LINE's location title and address are at most 100 characters each.
LOCATION_TEXT_MAX = 100


class OrderRefused(ValueError):
    """The order is certainly a mistake (the API answers 422); `field` names the part."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class OrderRequest:
    level: int
    districts: Sequence[str]
    kind: str
    text: str = ""
    drill: bool = False


@dataclass(frozen=True)
class Actor:
    label: str
    department_id: int


def check_order(order: OrderRequest, settings: Settings) -> None:
    """Raises OrderRefused for an empty or unknown district, level or disaster kind."""
    if order.level not in LEVEL_LABELS:
        raise OrderRefused(f"level must be 3, 4 or 5 (got {order.level})", "level")
    if not order.districts:
        raise OrderRefused("districts must name at least one district", "districts")
    known = settings.residents.districts
    unknown = [d for d in order.districts if d not in known]
    if unknown:
        raise OrderRefused(
            f"unknown district(s) {', '.join(unknown)}; known: {', '.join(known)}", "districts"
        )
    if order.kind not in DISASTER_KINDS:
        raise OrderRefused(
            f"unknown disaster kind {order.kind!r}; one of: {', '.join(DISASTER_KINDS)}", "kind"
        )


def level_label(level: int) -> str:
    return f"警戒レベル{level} {LEVEL_LABELS.get(level, '')}".strip()


def shelter_parameters(
    shelters: Mapping[str, list[Shelter]], districts: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Per district (every configured one, so any resident's lookup succeeds), at most
    MAX_SHELTERS open shelters, with LINE's location limits already applied."""
    return {
        district: [
            {
                "name": shelter.name[:LOCATION_TEXT_MAX],
                "address": shelter.address[:LOCATION_TEXT_MAX],
                "latitude": shelter.latitude,
                "longitude": shelter.longitude,
            }
            for shelter in shelters.get(district, [])[:MAX_SHELTERS]
        ]
        for district in districts
    }


# Our disaster kinds as the evacuation templates name hazards; others pass through as is.
HAZARDS: Mapping[str, str] = {
    "土砂災害": "landslide",
    "洪水": "flood",
    "内水氾濫": "inland_flood",
    "高潮": "storm_surge",
    "津波": "tsunami",
}


def order_parameters(
    session: Session,
    emergency: Emergency,
    settings: Settings,
    now: datetime,
    *,
    update: bool = False,
    note: str = "",
) -> dict[str, Any]:
    """What the evacuation template is given: level, hazard, drill, issued_time (JST),
    shelters_by_district (every configured district, so any resident's lookup works)."""
    shelters = open_shelters(session, settings.residents.districts, emergency.kind)
    return {
        "level": emergency.level,
        "level_label": level_label(emergency.level),
        "hazard": HAZARDS.get(emergency.kind, emergency.kind),
        "disaster_kind": emergency.kind,
        "districts": list(emergency.districts),
        "issued_time": f"{now.astimezone(settings.tz):%H:%M}",
        "text": note or emergency.text,
        "drill": emergency.drill,
        "update": update,
        "shelters_by_district": shelter_parameters(shelters, settings.residents.districts),
    }


def _title(emergency: Emergency, what: str) -> str:
    mark = DRILL_MARK if emergency.drill else ""
    areas = "・".join(emergency.districts)
    return f"{mark}{what} {level_label(emergency.level)} {emergency.kind} ({areas})"[:200]


def _create(
    session: Session,
    actor: Actor,
    emergency: Emergency,
    request: BroadcastRequest,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> Broadcast:
    check_free_text(renderer, request, emergency.districts, settings)
    try:
        return create_broadcast(
            session, actor.label, actor.department_id, request, settings, renderer, now
        )
    except BroadcastRefused as exc:
        # Our own template failing is a bug, never the desk's fault: say so plainly.
        raise OrderRefused(
            f"the evacuation message could not be prepared: {exc.message}", exc.field
        ) from exc


def _emergency_request(
    emergency: Emergency,
    title: str,
    template: str | None,
    parameters: Mapping[str, Any],
    **extra: Any,
) -> BroadcastRequest:
    return BroadcastRequest(
        title=title,
        category=CATEGORY,
        template_name=template,
        template_text=None if template else LIFT_FALLBACK_TEXT,
        parameters=parameters,
        kind=BroadcastKind.emergency,
        priority=Priority.emergency,
        bypass_limits=True,
        drill=emergency.drill,
        source={"emergency_id": emergency.id},
        **extra,
    )


def issue_order(
    session: Session,
    actor: Actor,
    order: OrderRequest,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    draft_id: int | None = None,
) -> tuple[Emergency, Broadcast]:
    """Add the emergency and its broadcast (flushed; the caller commits, then dispatches)."""
    check_order(order, settings)
    emergency = Emergency(
        level=order.level,
        kind=order.kind,
        districts=list(dict.fromkeys(order.districts)),
        text=order.text,
        drill=order.drill,
        department_id=actor.department_id,
        created_by=actor.label,
        created_at=now,
        draft_id=draft_id,
    )
    session.add(emergency)
    session.flush()
    request = _emergency_request(
        emergency,
        _title(emergency, "避難情報"),
        ORDER_TEMPLATE,
        order_parameters(session, emergency, settings, now),
        rule={"field": "district", "op": "in", "value": list(emergency.districts)},
    )
    broadcast = _create(session, actor, emergency, request, settings, renderer, now)
    emergency.broadcast_id = broadcast.id
    session.add(emergency)
    session.flush()
    return emergency, broadcast


def issue_update(
    session: Session,
    actor: Actor,
    emergency: Emergency,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    level: int | None = None,
    text: str = "",
) -> Broadcast:
    """An update (level changed, a shelter opened, new text) to the original's recipients."""
    if emergency.status != EmergencyStatus.active:
        raise OrderRefused(f"emergency {emergency.id} is already lifted", "status")
    if level is not None:
        if level not in LEVEL_LABELS:
            raise OrderRefused(f"level must be 3, 4 or 5 (got {level})", "level")
        emergency.level = level
    if text:
        emergency.text = text
    session.add(emergency)
    request = _emergency_request(
        emergency,
        _title(emergency, "避難情報 更新"),
        ORDER_TEMPLATE,
        order_parameters(session, emergency, settings, now, update=True, note=text),
        recipients_of=emergency.broadcast_id,
        parent_id=emergency.broadcast_id,
    )
    return _create(session, actor, emergency, request, settings, renderer, now)


def lift(
    session: Session,
    actor: Actor,
    emergency: Emergency,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    text: str = "",
) -> Broadcast:
    """解除: tells the original's recipients the order is lifted; the emergency is closed."""
    if emergency.status != EmergencyStatus.active:
        raise OrderRefused(f"emergency {emergency.id} is already lifted", "status")
    emergency.status = EmergencyStatus.lifted
    emergency.lifted_at = now
    session.add(emergency)
    parameters = {
        "level": emergency.level,
        "level_label": level_label(emergency.level),
        "disaster_kind": emergency.kind,
        "districts": list(emergency.districts),
        "hazard": HAZARDS.get(emergency.kind, emergency.kind),
        "issued_time": f"{now.astimezone(settings.tz):%H:%M}",
        "text": text,
        "drill": emergency.drill,
    }
    # The lift must go out even before a city writes its own evacuation_lifted template.
    template = LIFT_TEMPLATE if LIFT_TEMPLATE in renderer.templates() else None
    request = _emergency_request(
        emergency,
        _title(emergency, "避難情報 解除"),
        template,
        parameters,
        recipients_of=emergency.broadcast_id,
        parent_id=emergency.broadcast_id,
    )
    return _create(session, actor, emergency, request, settings, renderer, now)


def dry_run(session: Session, order: OrderRequest, settings: Settings) -> dict[str, Any]:
    """Who the order would reach, per district and per language; changes nothing."""
    check_order(order, settings)
    rows = (
        session.connection()
        .execute(
            sa.select(col(Resident.district), col(Resident.language), sa.func.count())
            .where(
                col(Resident.follow_state) == FollowState.following,
                col(Resident.district).in_(list(order.districts)),
            )
            .group_by(col(Resident.district), col(Resident.language))
        )
        .all()
    )
    per_district: dict[str, dict[str, Any]] = {
        d: {"total": 0, "languages": {}} for d in dict.fromkeys(order.districts)
    }
    for district, language, count in rows:
        entry = per_district[str(district)]
        entry["total"] += int(count)
        entry["languages"][language] = int(count)
    shelters = open_shelters(session, list(order.districts), order.kind)
    for district, entry in per_district.items():
        entry["open_shelters"] = len(shelters.get(district, []))
    return {
        "dry_run": True,
        "total": sum(e["total"] for e in per_district.values()),
        "districts": per_district,
    }


def dispatch_now(
    session: Session,
    broadcast: Broadcast,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    on_commit: Callable[[], None] | None = None,
) -> outbox.DispatchResult:
    """Write the order's batches now (emergency priority: the worker takes them first),
    through the one dispatch path. The caller has committed the broadcast.

    The broadcast is claimed first, so a scheduler tick that saw it due at the same moment
    leaves it alone (and if the tick won, this writes nothing: the tick sends it).
    """
    assert broadcast.id is not None
    result = dispatch_broadcast(
        session.get_bind(), broadcast.id, settings, renderer, now, on_commit=on_commit
    )
    session.refresh(broadcast)
    return result or outbox.DispatchResult()


def check_free_text(
    renderer: Renderer, request: BroadcastRequest, districts: Sequence[str], settings: Settings
) -> None:
    """Refuse a desk's text that cannot fit beside the order's own wording in one LINE
    text message (counted in UTF-16 units, as LINE does), rather than cut words residents
    need. Raises OrderRefused saying by how much to shorten it."""
    problem = policy.free_text_problem(renderer, request, districts, settings)
    if problem:
        raise OrderRefused(problem, "text")
