"""A renderer over the shipped templates and realistic parameters for each of them."""

from __future__ import annotations

from typing import Any

import pytest

from broadcaster.render import TEMPLATES_DIR, Renderer
from broadcaster.settings import Settings

SHELTERS: dict[str, list[dict[str, Any]]] = {
    "中央": [
        {"name": f"中央第{i}避難所", "address": f"中央町{i}-1-1", "latitude": 35.68 + i / 1000,
         "longitude": 139.76}
        for i in range(1, 7)
    ],
    "山間": [
        {"name": "山間小学校 体育館", "address": "山間町大字奥沢123", "latitude": 35.91,
         "longitude": 139.12}
    ],
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "evacuation": {
        "level": 4, "hazard": "landslide", "issued_time": "14:30", "drill": False,
        "text": "奥沢川沿いでは特に注意してください。", "shelters_by_district": SHELTERS,
        "update": False, "texts": {}, "district_names": {}, "shelter_names": {},
    },
    "evacuation_lifted": {
        "level": 4, "hazard": "landslide", "issued_time": "18:00", "drill": False, "text": "",
        "texts": {}, "district_names": {},
    },
    "garbage_reminder": {
        "collection_date": "2026-04-07", "kinds": ["燃やすごみ", "ペットボトル"], "timing": "eve",
        "holiday": "", "notes": [],
        "names": {"ja": "燃やすごみ、ペットボトル", "easy-ja": "もやす ごみ、ペットボトル",
                  "en": "burnable waste, PET bottles", "zh": "可燃垃圾、塑料瓶（PET）",
                  "ko": "타는 쓰레기, 페트병", "vi": "rác cháy được, chai nhựa PET",
                  "pt": "lixo queimável, garrafas PET"},
    },
    "garbage_correction": {
        "collection_date": "2026-04-07", "cancelled_kinds": ["資源ごみ"], "action": "move",
        "new_date": "2026-04-09", "reason": "道路工事のため",
        "cancelled_names": {"ja": "資源ごみ", "easy-ja": "しげん ごみ", "en": "recyclables",
                            "zh": "可回收资源", "ko": "재활용 쓰레기", "vi": "rác tái chế",
                            "pt": "recicláveis"},
    },
    "benefit_notice": {
        "benefit_name": "子育て世帯臨時特別給付金",
        "details": "対象の世帯に、児童1人あたり5万円を支給します。",
        "deadline": "2026-05-31",
        "how_to_apply": "同封の申請書を子育て支援課へ郵送してください。",
        "contact": "子育て支援課 0123-45-6789",
    },
    "event": {
        "title": "市民まつり", "event_date": "2026-05-03", "time": "10:00〜16:00",
        "venue": "中央公園", "description": "模擬店やステージ発表があります。",
        "venue_location": {"title": "中央公園", "address": "中央町2-1",
                           "latitude": 35.681, "longitude": 139.767},
    },
    "digest": {
        "digest_date": "2026-04-07",
        "items": [
            {"title": "図書館の休館", "text": "4月10日は館内整理のため休館します。"},
            {"title": "健康相談", "text": "保健センターで毎週水曜日に行っています。"},
        ],
    },
    "survey": {
        "title": "配信満足度",
        "question": "市からのLINEのお知らせに、どのくらい満足していますか。",
        "choices": [
            {"label": f"{v} 満足度", "data": f"action=survey&s=1&v={v}"} for v in range(1, 6)
        ],
        "closes_label": "12月8日 18:00",
    },
}


@pytest.fixture
def renderer(settings: Settings) -> Renderer:
    return Renderer.from_settings(settings)


@pytest.fixture
def small_renderer() -> Renderer:
    """Few trial values, for tests about inline templates."""
    return Renderer(TEMPLATES_DIR, ["ja", "easy-ja", "en", "vi"], districts=["中央", "北"])
