"""An evacuation order as the desk asks for it, and the checks that refuse one.

Refusing to send is reserved for what is certainly a mistake (no district, a district we
do not have, an unknown level, kind or language, free text that cannot fit beside the
order's own wording); nothing about the time of day or the number of messages a resident
already got can stop an order. The checks live apart from issuing so that a dry run
(`broadcaster.emergency.dry_run`) refuses exactly what sending would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from broadcaster import limits
from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.emergency import policy
from broadcaster.emergency.shelters import DISASTER_KINDS
from broadcaster.errors import FeatureRefusal
from broadcaster.render import Renderer
from broadcaster.settings import Settings

LEVEL_LABELS: Mapping[int, str] = {3: "高齢者等避難", 4: "避難指示", 5: "緊急安全確保"}


class OrderRefused(FeatureRefusal, ValueError):
    """The order is certainly a mistake (the API answers 422, 409 for its `status`);
    `path` names the part."""


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


def check_order(order: OrderRequest, settings: Settings) -> None:
    """Raises OrderRefused for an empty or unknown district, level or disaster kind."""
    if order.level not in LEVEL_LABELS:
        raise OrderRefused(
            f"level must be 3, 4 or 5 (got {order.level})", "emergency.level", path="level",
            level=order.level,
        )
    if not order.districts:
        raise OrderRefused(
            "districts must name at least one district", "emergency.no_district", path="districts"
        )
    known = settings.residents.districts
    unknown = [d for d in order.districts if d not in known]
    if unknown:
        raise OrderRefused(
            f"unknown district(s) {', '.join(unknown)}; known: {', '.join(known)}",
            "emergency.unknown_district",
            path="districts",
            districts=", ".join(unknown),
            known=", ".join(known),
        )
    if order.kind not in DISASTER_KINDS:
        raise OrderRefused(
            f"unknown disaster kind {order.kind!r}; one of: {', '.join(DISASTER_KINDS)}",
            "emergency.unknown_kind",
            path="kind",
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
            "emergency.unknown_language",
            path="texts",
            languages=", ".join(unknown),
            known=", ".join(settings.residents.languages),
        )


def level_label(level: int) -> str:
    return f"警戒レベル{level} {LEVEL_LABELS.get(level, '')}".strip()


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
            "emergency.text_too_long",
            path="text",
            units=units,
            room=room,
            over=units - room,
        )
