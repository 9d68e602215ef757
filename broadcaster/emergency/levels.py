"""Which 警戒レベル each JMA warning corresponds to: the one table, and its source.

Source: 内閣府（防災担当）「避難情報に関するガイドライン」(令和3年5月, 改定 令和4年9月),
the table 「警戒レベルと防災気象情報の対応」 (警戒レベル相当情報), and JMA's 2026 renaming of
the warnings after the level they correspond to (「レベル４土砂災害危険警報」, ...; 気象庁
「防災気象情報の体系整理」, 運用開始 2026年5月). The level is what the guideline says a city
should *consider* issuing; the disaster desk decides. Tsunami warnings have no 警戒レベル in
the guideline, but every one of them calls for 避難指示 (level 4's order) for the areas at
risk, so they are mapped to 4.

A row names the warning as JMA's code tables do (Kind/Name, and Kind/Code where the code is
stable across reports); `level` None means "information for the desk, not an order".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

SOURCE = (
    "内閣府「避難情報に関するガイドライン」警戒レベル相当情報の表 (令和3年5月, 令和4年9月改定); "
    "気象庁「防災気象情報の体系整理」(2026年) のレベル付き警報名"
)


@dataclass(frozen=True)
class Correspondence:
    """What one JMA warning means for the desk: our shelter disaster kind and level."""

    name: str
    kind: str | None
    level: int | None


# The JMA warnings a municipality acts on. Kinds are the 指定緊急避難場所 disaster kinds
# shelters are registered for. Level 2 (注意報) is listed so a downgrade is understood:
# it keeps an area's thread but never proposes an order.
TABLE: tuple[Correspondence, ...] = (
    # 気象警報・注意報 (H27 format, VPWW53/54)
    Correspondence("大雨特別警報", "土砂災害", 5),
    Correspondence("大雨警報", "土砂災害", 3),  # the guideline: 大雨警報（土砂災害）
    Correspondence("大雨注意報", "土砂災害", 2),
    Correspondence("洪水警報", "洪水", 3),
    Correspondence("洪水注意報", "洪水", 2),
    Correspondence("高潮特別警報", "高潮", 4),
    Correspondence("高潮警報", "高潮", 4),
    Correspondence("高潮注意報", "高潮", 2),
    # 土砂災害警戒情報 (VXWW50; Kind/Code 3 = 警戒)
    Correspondence("土砂災害警戒情報", "土砂災害", 4),
    # 指定河川洪水予報 (VXKO)
    Correspondence("氾濫発生情報", "洪水", 5),
    Correspondence("氾濫危険情報", "洪水", 4),
    Correspondence("氾濫警戒情報", "洪水", 3),
    Correspondence("氾濫注意情報", "洪水", 2),
    # 津波警報・注意報・予報 (VTSE41)
    Correspondence("大津波警報", "津波", 4),
    Correspondence("津波警報", "津波", 4),
    Correspondence("津波注意報", "津波", 4),  # 避難指示 for 海岸堤防より海側
    Correspondence("津波予報（若干の海面変動）", "津波", None),
    # 記録的短時間大雨情報 (VPOA50): information, the guideline gives it no level
    Correspondence("記録的短時間大雨情報", "土砂災害", None),
)
BY_NAME = {row.name: row for row in TABLE}

# H27 気象警報・注意報 Kind/Code (JMA code table 「気象警報・注意報」).
H27_CODES = {
    "33": "大雨特別警報",
    "03": "大雨警報",
    "10": "大雨注意報",
    "04": "洪水警報",
    "18": "洪水注意報",
    "38": "高潮特別警報",
    "08": "高潮警報",
    "19": "高潮注意報",
}
# 指定河川洪水予報 Kind/Code in Head/Headline/Information (10 is a lift).
RIVER_CODES = {"50": 5, "40": 4, "30": 3, "20": 2}
# 津波 Kind/Code (VTSE41): 52/53 大津波警報, 51 津波警報, 62 津波注意報, 71-73 津波予報.
TSUNAMI_CODES = {
    "52": "大津波警報",
    "53": "大津波警報",
    "51": "津波警報",
    "62": "津波注意報",
    "71": "津波予報（若干の海面変動）",
    "72": "津波予報（若干の海面変動）",
    "73": "津波予報（若干の海面変動）",
}
TSUNAMI_LIFTED = frozenset({"00", "50", "60"})

# The 2026 names carry the level: 「レベル５大雨特別警報」「レベル４土砂災害危険警報」
# 「レベル３氾濫警報」「レベル２高潮注意報」.
LEVELLED = re.compile(r"^レベル([2-5])(大雨|土砂災害|氾濫|高潮)(特別警報|危険警報|警報|注意報)")
# In the 2026 system 大雨 warnings are about inundation (浸水); landslides have their own.
LEVELLED_KINDS = {"大雨": "内水氾濫", "土砂災害": "土砂災害", "氾濫": "洪水", "高潮": "高潮"}


def normalise(name: str) -> str:
    """JMA writes digits full-width in names (レベル４); compare in NFKC."""
    return unicodedata.normalize("NFKC", name).strip()


def correspondence(name: str, code: str = "") -> Correspondence | None:
    """The row for a warning by its H27 code or its name (either generation); None for a
    warning no municipality acts on (暴風, 雷, 乾燥, ...)."""
    if code in H27_CODES:
        return BY_NAME[H27_CODES[code]]
    plain = normalise(name)
    levelled = LEVELLED.match(plain)
    if levelled:
        level = int(levelled.group(1))
        return Correspondence(plain, LEVELLED_KINDS[levelled.group(2)], level)
    return BY_NAME.get(plain)
