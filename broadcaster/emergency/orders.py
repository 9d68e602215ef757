"""Evacuation orders (避難情報): from the disaster desk's request to broadcasts sent now.

An order ignores quiet hours, frequency caps and opt-outs (priority emergency,
bypass_limits) and is dispatched in the request itself, so its batches overtake all queued
work. Refusing to send is reserved for what is certainly a mistake (no district, a district
we do not have, an unknown level or kind: `broadcaster.emergency.order_requests`); nothing
about the time of day or the number of messages a resident already got can stop it. The
templates' parameters come from `broadcaster.emergency.template_parameters`. Follow-ups
(updates and 解除) go to whoever the original order reached, even a resident who has since
moved district.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from broadcaster import rich_menus
from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_requests import BroadcastRefused, BroadcastRequest
from broadcaster.broadcasts import Broadcast, BroadcastKind, Priority
from broadcaster.emergency.models import Emergency, EmergencyStatus
from broadcaster.emergency.order_requests import (
    LEVEL_LABELS,
    OrderRefused,
    OrderRequest,
    check_free_text,
    check_order,
    check_texts,
    level_label,
)
from broadcaster.emergency.policy import LIFT_TEMPLATE
from broadcaster.emergency.template_parameters import HAZARDS, order_parameters, wording
from broadcaster.render import Renderer
from broadcaster.settings import Settings

ORDER_TEMPLATE = "evacuation"
LIFT_FALLBACK_TEXT = """{% if drill %}【訓練】これは訓練です。
{% endif %}【解除】{{ level_label }}（{{ disaster_kind }}）を{{ issued_time }}に解除しました。
対象地区：{{ districts|join("・") }}
{% if text %}{{ text }}
{% endif %}引き続き周囲の状況に注意してください。"""
# Category the order is filed under; emergencies ignore opt-outs, so it only labels reports.
CATEGORY = "general"


@dataclass(frozen=True)
class Actor:
    label: str
    department_id: int


def order_broadcasts(session: Session, emergency: Emergency) -> list[Broadcast]:
    """The order's broadcasts, oldest first: the order itself, then its 【更新】 and 解除
    (each a child of the order's broadcast)."""
    return list(session.exec(
        select(Broadcast)
        .where(
            (col(Broadcast.id) == emergency.broadcast_id)
            | (col(Broadcast.parent_id) == emergency.broadcast_id)
        )
        .order_by(col(Broadcast.id))
    ).all())


def _title(emergency: Emergency, what: str) -> str:
    # No 【訓練】 here: the broadcast's drill flag is shown with the title wherever it is
    # listed, and a mark in the title too read 【訓練】【訓練】.
    areas = "・".join(emergency.districts)
    return f"{what} {level_label(emergency.level)} {emergency.kind} ({areas})"[:200]


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
            f"the evacuation message could not be prepared: {exc.message}",
            "emergency.not_prepared",
            path=exc.field,
            problem=exc.message,
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
        texts=dict(order.texts),
        drill=order.drill,
        hold_routine=order.hold_routine,
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
    # Rich menus (issue 18): once this order commits, residents of its districts get the
    # disaster menu, in a thread of its own so the order never waits for it.
    rich_menus.switch_after_commit(session, settings, emergency.districts)
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
    texts: Mapping[str, str] | None = None,
) -> Broadcast:
    """An update (level changed, a shelter opened, new text) to the original's recipients;
    every language's message opens with its 【更新】 mark."""
    if emergency.status != EmergencyStatus.active:
        raise OrderRefused(
            f"emergency {emergency.id} is already lifted", "emergency.lifted", path="status",
            ident=emergency.id,
        )
    if level is not None:
        if level not in LEVEL_LABELS:
            raise OrderRefused(
                f"level must be 3, 4 or 5 (got {level})", "emergency.level",
                path="level", level=level,
            )
        emergency.level = level
    check_texts(texts or {}, settings)
    if text:
        emergency.text = text
    if texts:
        emergency.texts = {**emergency.texts, **texts}
    session.add(emergency)
    request = _emergency_request(
        emergency,
        _title(emergency, "【更新】避難情報"),
        ORDER_TEMPLATE,
        order_parameters(
            session, emergency, settings, now, update=True, note=text, notes=texts or {}
        ),
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
    texts: Mapping[str, str] | None = None,
) -> Broadcast:
    """解除: tells the original's recipients the order is lifted; the emergency is closed."""
    if emergency.status != EmergencyStatus.active:
        raise OrderRefused(
            f"emergency {emergency.id} is already lifted", "emergency.lifted", path="status",
            ident=emergency.id,
        )
    check_texts(texts or {}, settings)
    emergency.status = EmergencyStatus.lifted
    emergency.lifted_at = now
    session.add(emergency)
    # Rich menus (issue 18): once the lift commits, residents of these districts get their
    # language's menu back (or stay on the disaster menu if another order still covers them).
    rich_menus.switch_after_commit(session, settings, emergency.districts)
    parameters = {
        "level": emergency.level,
        "level_label": level_label(emergency.level),
        "disaster_kind": emergency.kind,
        "districts": list(emergency.districts),
        "hazard": HAZARDS.get(emergency.kind, emergency.kind),
        "issued_time": f"{now.astimezone(settings.tz):%H:%M}",
        "drill": emergency.drill,
        **wording(settings, text, texts or {}),
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

