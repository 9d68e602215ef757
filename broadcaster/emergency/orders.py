"""Evacuation orders (避難情報): from the disaster desk's request to broadcasts sent now.

An order ignores quiet hours, frequency caps and opt-outs (priority emergency,
bypass_limits) and is dispatched in the request itself, so its batches overtake all queued
work. Refusing to send is reserved for what is certainly a mistake (no district, a district
we do not have, an unknown level or kind); nothing about the time of day or the number of
messages a resident already got can stop it. Follow-ups (updates and 解除) go to whoever
the original order reached, even a resident who has since moved district.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from broadcaster import limits, rich_menus
from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_requests import BroadcastRefused, BroadcastRequest
from broadcaster.broadcasts import Broadcast, BroadcastKind, Priority
from broadcaster.emergency import policy
from broadcaster.emergency.models import Emergency, EmergencyStatus
from broadcaster.emergency.policy import LIFT_TEMPLATE
from broadcaster.emergency.shelters import DISASTER_KINDS, Shelter, open_shelters
from broadcaster.render import Renderer
from broadcaster.settings import Settings

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

    def __init__(self, message: str, field: str, code: str = "", **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # The catalog's code for `message` (broadcaster.catalog), "" while it has none.
        self.code = code
        self.params = params


@dataclass(frozen=True)
class OrderRequest:
    level: int
    districts: Sequence[str]
    kind: str
    text: str = ""
    drill: bool = False
    # The desk's free text per resident language; a language without one shows `text`
    # (Japanese) under a note saying so.
    texts: Mapping[str, str] = field(default_factory=dict)
    # Disaster mode: hold routine broadcasts to these districts while the order is active.
    hold_routine: bool = True


@dataclass(frozen=True)
class Actor:
    label: str
    department_id: int


def check_order(order: OrderRequest, settings: Settings) -> None:
    """Raises OrderRefused for an empty or unknown district, level or disaster kind."""
    if order.level not in LEVEL_LABELS:
        raise OrderRefused(
            f"level must be 3, 4 or 5 (got {order.level})", "level", "emergency.level",
            level=order.level,
        )
    if not order.districts:
        raise OrderRefused(
            "districts must name at least one district", "districts", "emergency.no_district"
        )
    known = settings.residents.districts
    unknown = [d for d in order.districts if d not in known]
    if unknown:
        raise OrderRefused(
            f"unknown district(s) {', '.join(unknown)}; known: {', '.join(known)}",
            "districts",
            "emergency.unknown_district",
            districts=", ".join(unknown),
            known=", ".join(known),
        )
    if order.kind not in DISASTER_KINDS:
        raise OrderRefused(
            f"unknown disaster kind {order.kind!r}; one of: {', '.join(DISASTER_KINDS)}",
            "kind",
            "emergency.unknown_kind",
            kind=order.kind,
            known=", ".join(DISASTER_KINDS),
        )
    check_texts(order.texts, settings)


def check_texts(texts: Mapping[str, str], settings: Settings) -> None:
    """Raises OrderRefused for free text in a language residents cannot choose."""
    unknown = [lang for lang in texts if lang not in settings.residents.languages]
    if unknown:
        raise OrderRefused(
            f"texts: unknown language(s) {', '.join(unknown)}; "
            f"known: {', '.join(settings.residents.languages)}",
            "texts",
            "emergency.unknown_language",
            languages=", ".join(unknown),
            known=", ".join(settings.residents.languages),
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
    notes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What the evacuation template is given: level, hazard, drill, issued_time (JST),
    shelters_by_district (every configured district, so any resident's lookup works),
    the names of districts and shelters per language, and the free text per language."""
    shelters = open_shelters(session, settings.residents.districts, emergency.kind)
    return {
        **wording(
            settings, note or emergency.text, notes if notes is not None else emergency.texts
        ),
        "level": emergency.level,
        "level_label": level_label(emergency.level),
        "hazard": HAZARDS.get(emergency.kind, emergency.kind),
        "disaster_kind": emergency.kind,
        "districts": list(emergency.districts),
        "issued_time": f"{now.astimezone(settings.tz):%H:%M}",
        "drill": emergency.drill,
        "update": update,
        "shelters_by_district": shelter_parameters(shelters, settings.residents.districts),
    }


def wording(settings: Settings, text: str, texts: Mapping[str, str]) -> dict[str, Any]:
    """Parameters every evacuation template reads for its language's words."""
    return {
        "text": text,
        "texts": {lang: value for lang, value in texts.items() if value},
        "district_names": settings.emergency.district_names,
        "shelter_names": settings.emergency.shelter_names,
    }


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
            exc.field,
            "emergency.not_prepared",
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
            f"emergency {emergency.id} is already lifted", "status", "emergency.lifted",
            ident=emergency.id,
        )
    if level is not None:
        if level not in LEVEL_LABELS:
            raise OrderRefused(
                f"level must be 3, 4 or 5 (got {level})", "level", "emergency.level", level=level
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
            f"emergency {emergency.id} is already lifted", "status", "emergency.lifted",
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


def check_free_text(
    renderer: Renderer, request: BroadcastRequest, districts: Sequence[str], settings: Settings
) -> None:
    """Refuse a desk's text that cannot fit beside the order's own wording in one LINE
    text message (counted in UTF-16 units, as LINE does), rather than cut words residents
    need. Raises OrderRefused saying by how much to shorten it."""
    problem = policy.free_text_problem(renderer, request, districts, settings)
    if problem:
        units, room = problem
        raise OrderRefused(
            f"text is {units:,} UTF-16 units (an emoji counts as two); beside the order's own "
            f"wording {room:,} fit in LINE's {limits.MAX_TEXT_UTF16:,} per message: "
            f"shorten it by {units - room:,}",
            "text",
            "emergency.text_too_long",
            units=units,
            room=room,
            over=units - room,
        )
