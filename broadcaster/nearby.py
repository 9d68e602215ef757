"""Shelters near me (避難所検索): a resident shares a location and gets the nearest
shelters, nearest first, as LINE location messages (tap to open the map) with distance.

During an evacuation order these are the open shelters serving its disaster kinds; with no
order in effect, the designated shelters (指定緊急避難場所) whether open or not, so a
resident can learn where to go before they need to. Tapping 避難所 (rich menu, or the word
in any language) asks for the location with LINE's location quick reply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from broadcaster.emergency.models import Emergency, EmergencyStatus
from broadcaster.emergency.shelters import DISASTER_KINDS, Shelter
from broadcaster.settings import Settings
from segments.catalog import Texts, texts_for
from segments.residents import Resident

MAX_SHELTERS = 3  # one text and three locations stay inside LINE's 5 objects
LOCATION_TEXT_MAX = 100  # LINE: title and address at most 100 characters each
EARTH_RADIUS_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres; ample for "which shelter is nearer"."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Nearby:
    shelter: Shelter
    metres: float


def nearest(
    shelters: Sequence[Shelter], latitude: float, longitude: float, limit: int = MAX_SHELTERS
) -> list[Nearby]:
    """The `limit` nearest shelters, nearest first (ties by name, so answers are stable)."""
    ranked = sorted(
        (Nearby(s, distance_m(latitude, longitude, s.latitude, s.longitude)) for s in shelters),
        key=lambda n: (n.metres, n.shelter.name),
    )
    return ranked[:limit]


def active_kinds(session: Session, settings: Settings) -> list[str]:
    """Disaster kinds of the orders in effect (drills included: a drill practises this)."""
    rows = session.exec(select(Emergency).where(Emergency.status == EmergencyStatus.active))
    kinds = {emergency.kind for emergency in rows.all()}
    return [k for k in DISASTER_KINDS if k in kinds]


def candidates(session: Session, kinds: Sequence[str]) -> list[Shelter]:
    """Open shelters serving any of `kinds`; with no kinds, every designated shelter."""
    if not kinds:
        return list(session.exec(select(Shelter)).all())
    rows = session.exec(select(Shelter).where(col(Shelter.is_open).is_(True))).all()
    return [s for s in rows if any(k in s.kinds for k in kinds)]


def format_distance(texts: Texts, metres: float) -> str:
    if metres < 1000:
        return texts("shelters.distance_m", m=max(10, round(metres / 10) * 10))
    return texts("shelters.distance_km", km=f"{metres / 1000:.1f}")


def shelters_reply(
    session: Session, settings: Settings, resident: Resident, latitude: float, longitude: float
) -> list[dict[str, Any]]:
    """LINE messages for a shared location: a line in the resident's language, then up to
    three location messages, nearest first."""
    texts = texts_for(resident.language, settings.residents.labels)
    kinds = active_kinds(session, settings)
    found = nearest(candidates(session, kinds), latitude, longitude)
    if not found:
        return [{"type": "text", "text": texts("shelters.none")}]
    if kinds:
        head = texts("shelters.open", kind=texts("separator").join(texts.kind(k) for k in kinds))
    else:
        head = texts("shelters.designated")
    messages: list[dict[str, Any]] = [{"type": "text", "text": head}]
    for near in found:
        shelter = near.shelter
        address = texts(
            "shelters.address",
            distance=format_distance(texts, near.metres),
            address=texts.label(shelter.address),
        )
        messages.append(
            {
                "type": "location",
                "title": texts.label(shelter.name)[:LOCATION_TEXT_MAX],
                "address": address[:LOCATION_TEXT_MAX],
                "latitude": shelter.latitude,
                "longitude": shelter.longitude,
            }
        )
    return messages


def ask_location(settings: Settings, resident: Resident) -> list[dict[str, Any]]:
    """避難所 tapped: ask for the location with LINE's own location button."""
    texts = texts_for(resident.language, settings.residents.labels)
    label = texts("button.share_location")[:20]
    return [
        {
            "type": "text",
            "text": texts("shelters.ask_location"),
            "quickReply": {
                "items": [{"type": "action", "action": {"type": "location", "label": label}}]
            },
        }
    ]


def orders_reply(session: Session, settings: Settings, resident: Resident) -> list[dict[str, Any]]:
    """避難情報 tapped: the orders in effect, in the resident's language (drills marked)."""
    texts = texts_for(resident.language, settings.residents.labels)
    rows = session.exec(
        select(Emergency)
        .where(Emergency.status == EmergencyStatus.active)
        .order_by(col(Emergency.created_at))
    ).all()
    if not rows:
        return [{"type": "text", "text": texts("orders.none")}]
    lines = [texts("orders.title")]
    for emergency in rows:
        line = texts(
            "orders.active",
            level=texts(f"level.{emergency.level}"),
            kind=texts.kind(emergency.kind),
            districts=texts("separator").join(texts.label(d) for d in emergency.districts),
        )
        lines.append((texts("orders.drill") if emergency.drill else "") + line)
    return [{"type": "text", "text": "\n".join(lines)[:4900]}]
