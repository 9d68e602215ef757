"""What the evacuation templates are given: level, hazard, time, shelters and wording.

Kept apart from issuing because an order and its updates render from the same
parameters, and every configured district gets its shelters so any resident's lookup
succeeds, whichever districts the order names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from broadcaster.emergency.models import Emergency
from broadcaster.emergency.order_requests import level_label
from broadcaster.emergency.shelters import Shelter, open_shelters
from broadcaster.settings import Settings

# LINE takes at most 5 message objects per request: one order text and 4 shelters.
MAX_SHELTERS = 4
# LINE's location title and address are at most 100 characters each.
LOCATION_TEXT_MAX = 100


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

