"""The [emergency] section: alert feeds, the CAP mapping table, the areas and shelters.

Kept apart from the other sections for its size: each JMA feed and each row of the CAP
table is a model of its own, checked at start like every other setting.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from broadcaster.settings.sections import Section


class CapRule(Section):
    """One row of the CAP mapping table: an <info> matching every listed field (an empty
    list matches anything) gets `level` (3, 4, 5), "information" (a notice for the desk,
    no order proposed) or "ignore" (recorded as not acted on). The first matching row wins."""

    category: list[str] = Field(default_factory=list)
    urgency: list[str] = Field(default_factory=list)
    severity: list[str] = Field(default_factory=list)
    certainty: list[str] = Field(default_factory=list)
    level: Literal[3, 4, 5, "information", "ignore"]


class AlertFeedSettings(Section):
    """An Atom feed of JMA telegrams (気象庁防災情報XML, high-frequency or long-term)."""

    url: str = Field(min_length=1)
    # Only entries whose <author><name> is one of these (the offices covering the city);
    # empty: every office. Entries are also filtered by title (`feed_titles`).
    offices: list[str] = Field(default_factory=list)


class EmergencySettings(Section):
    """Alert feeds, area mapping and the shelter CSV (issues 7 and 15)."""

    max_alert_bytes: int = Field(default=1_000_000, ge=1024)
    area_districts: dict[str, list[str]] = Field(default_factory=dict)
    shelter_district_column: str = "地区"
    shelter_district_values: dict[str, str] = Field(default_factory=dict)
    exercise_alerts: Literal["drill_draft", "ignore"] = "drill_draft"
    # CAP category/urgency/severity/certainty -> level; empty: the shipped table (cap.py).
    cap_rules: list[CapRule] = Field(default_factory=list)
    feeds: list[AlertFeedSettings] = Field(default_factory=list)
    # Worst-case time from a feed entry to its draft is about this plus a fraction of a
    # second (bench/alert_feed.py); an unchanged feed costs one 304 per poll.
    feed_interval_seconds: float = Field(default=4.0, ge=1.0)
    feed_timeout_seconds: float = Field(default=10.0, gt=0)
    # A telegram that fails this many fetches is reported as failed and not tried again.
    feed_max_attempts: int = Field(default=5, ge=1)
    # Control/Title prefixes of the telegrams to fetch (the feed entry's <title>).
    feed_titles: list[str] = Field(
        default_factory=lambda: [
            "気象警報・注意報",
            "気象特別警報・警報・注意報",
            "土砂災害警戒情報",
            "指定河川洪水予報",
            "津波警報・注意報・予報",
            "記録的短時間大雨情報",
        ]
    )
    # District and shelter names per resident language ({"en": {"北": "Kita"}}); a name
    # missing for a language is shown in Japanese, and the dry run says so.
    district_names: dict[str, dict[str, str]] = Field(default_factory=dict)
    shelter_names: dict[str, dict[str, str]] = Field(default_factory=dict)
