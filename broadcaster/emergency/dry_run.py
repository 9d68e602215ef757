"""The dry run of an evacuation order: who it would reach, and what the desk should fix
before sending. Nothing is written.

Warnings are about what residents would see: a district with no open shelter for the
disaster gets no shelter in its message, and a district or shelter with no name in a
resident's language is shown in Japanese.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from broadcaster.emergency.order_requests import OrderRequest, check_order
from broadcaster.emergency.shelters import open_shelters
from broadcaster.settings import Settings
from segments.catalog import STAFF_LANGUAGE_NAMES
from segments.residents import FollowState, Resident

JAPANESE = ("ja", "easy-ja")


def dry_run(session: Session, order: OrderRequest, settings: Settings) -> dict[str, Any]:
    """Who the order would reach, per district and per language, and the warnings
    (per district, in Japanese for the desk); raises OrderRefused like a real order."""
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
        d: {"total": 0, "languages": {}, "warnings": []} for d in dict.fromkeys(order.districts)
    }
    for district, language, count in rows:
        entry = per_district[str(district)]
        entry["total"] += int(count)
        entry["languages"][language] = int(count)
    shelters = open_shelters(session, list(order.districts), order.kind)
    names = settings.emergency
    for district, entry in per_district.items():
        open_here = shelters.get(district, [])
        entry["open_shelters"] = len(open_here)
        warnings: list[str] = entry["warnings"]
        if not open_here:
            warnings.append(
                f"{district}地区に{order.kind}に対応する開設中の避難所がありません"
                "（メッセージに避難所は載りません）"
            )
        for language in entry["languages"]:
            if language in JAPANESE or language not in settings.residents.languages:
                continue
            name = STAFF_LANGUAGE_NAMES.get(language, language)
            if district not in names.district_names.get(language, {}):
                warnings.append(
                    f"{name}: 地区名「{district}」の訳がないため日本語で表示されます"
                )
            missing = [
                s.name for s in open_here if s.name not in names.shelter_names.get(language, {})
            ]
            if missing:
                warnings.append(
                    f"{name}: 避難所名 {'、'.join(missing)} の訳がないため日本語で表示されます"
                )
            if order.text and not order.texts.get(language):
                warnings.append(f"{name}: 自由記述の訳がないため日本語の文を添えて送ります")
    return {
        "dry_run": True,
        "total": sum(e["total"] for e in per_district.values()),
        "districts": per_district,
        "warnings": [w for e in per_district.values() for w in e["warnings"]],
    }
