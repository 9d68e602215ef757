"""The [garbage] section: the collection calendar, its garbage kinds and reminder times.

Most of it is the default table of kinds (their names as residents of each language read
them, and the spellings calendars use for them), which a city overrides in config.toml.
"""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import Field

from broadcaster.settings.sections import Section


class GarbageKind(Section):
    """One garbage kind: the name residents see, its calendar spellings, and its name in
    residents' other languages (a language without one gets the Japanese name)."""

    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    names: dict[str, str] = Field(default_factory=dict)


def _kind(name: str, aliases: list[str], *names: str) -> GarbageKind:
    """A default kind; `names` are easy-ja, en, zh, ko, vi, pt in that order."""
    languages = ("easy-ja", "en", "zh", "ko", "vi", "pt")
    return GarbageKind(name=name, aliases=aliases, names=dict(zip(languages, names, strict=True)))


def _default_garbage_kinds() -> dict[str, GarbageKind]:
    # Kept apart as cities collect them: a bottles-only day is not a cans day (issue 16).
    return {
        "burnable": _kind(
            "燃やすごみ", ["燃やすごみ", "燃えるごみ", "可燃ごみ", "可燃物", "もえるごみ"],
            "もやす ごみ", "burnable waste", "可燃垃圾", "타는 쓰레기", "rác cháy được",
            "lixo queimável",
        ),
        "non_burnable": _kind(
            "燃やさないごみ",
            ["燃やさないごみ", "燃えないごみ", "不燃ごみ", "不燃物", "もえないごみ"],
            "もやさない ごみ", "non-burnable waste", "不可燃垃圾", "타지 않는 쓰레기",
            "rác không cháy được", "lixo não queimável",
        ),
        "recyclable": _kind(
            "資源ごみ", ["資源ごみ", "資源物", "資源"],
            "しげん ごみ", "recyclables", "可回收资源", "재활용 쓰레기", "rác tái chế",
            "recicláveis",
        ),
        "bottles": _kind(
            "びん", ["びん", "ビン", "瓶", "空きびん", "空きビン"],
            "びん", "glass bottles", "玻璃瓶", "유리병", "chai thủy tinh", "garrafas de vidro",
        ),
        "cans": _kind(
            "缶", ["缶", "かん", "カン", "空き缶", "空きかん"],
            "かん", "cans", "罐", "캔", "lon", "latas",
        ),
        "pet_bottles": _kind(
            "ペットボトル", ["ペットボトル"],
            "ペットボトル", "PET bottles", "塑料瓶（PET）", "페트병", "chai nhựa PET",
            "garrafas PET",
        ),
        "plastic": _kind(
            "プラスチック製容器包装",
            [
                "プラスチック製容器包装", "容器包装プラスチック", "プラスチック", "プラ",
                "容器包装プラ",
            ],
            "プラスチックの いれもの", "plastic packaging", "塑料容器包装",
            "플라스틱 용기·포장", "bao bì nhựa", "embalagens plásticas",
        ),
        "paper": _kind(
            "古紙", ["古紙", "雑がみ", "紙類", "新聞・雑誌"],
            "ふるい かみ", "paper", "旧纸", "폐지", "giấy cũ", "papel",
        ),
        "cloth": _kind(
            "古布", ["古布", "古着", "衣類", "布類"],
            "ふるい ぬの・ふく", "old clothes and cloth", "旧衣物", "헌 옷·천",
            "quần áo và vải cũ", "roupas e tecidos usados",
        ),
        "oversized": _kind(
            "粗大ごみ", ["粗大ごみ"],
            "おおきい ごみ", "oversized waste", "大件垃圾", "대형 쓰레기", "rác cồng kềnh",
            "lixo volumoso",
        ),
        "hazardous": _kind(
            "有害ごみ", ["有害ごみ", "危険ごみ", "有害・危険ごみ", "有害危険ごみ"],
            "あぶない ごみ", "hazardous waste", "有害垃圾", "유해 쓰레기", "rác nguy hại",
            "lixo perigoso",
        ),
    }


GarbageTiming = Literal["eve", "morning", "off"]
"""A reminder timing residents may choose: the evening before, the morning of, or none."""


def _default_garbage_timings() -> list[GarbageTiming]:
    return ["eve", "morning", "off"]


class GarbageSettings(Section):
    """The garbage-collection calendar (issue 6); see [garbage] in config.toml."""

    department: str = "環境課"
    expand_days: int = Field(default=400, ge=1, le=3660)
    kinds: dict[str, GarbageKind] = Field(default_factory=_default_garbage_kinds)
    ignore_summaries: list[str] = Field(
        default_factory=lambda: ["収集なし", "収集はありません", "休み"]
    )
    zone_aliases: dict[str, str] = Field(default_factory=dict)
    eve_time: time = time(19, 0)
    morning_time: time = time(6, 30)
    timings: list[GarbageTiming] = Field(default_factory=_default_garbage_timings)
    reminders_ignore_quiet_hours: bool = True
    create_ahead_minutes: float = Field(default=120.0, ge=0)
    reply_days: int = Field(default=5, ge=1, le=20)
    sources: dict[str, str] = Field(default_factory=dict)
    fetch_interval_minutes: float = Field(default=1440.0, gt=0)
    fetch_timeout_seconds: float = Field(default=30.0, gt=0)
    fetch_max_bytes: int = Field(default=5_000_000, ge=1024)
    max_occurrences_per_event: int = Field(default=1000, ge=1)
    dictionary_contact: str = Field(default="市役所の環境課", min_length=1, max_length=200)
