"""Dates as residents read them, per language: the `datelabel` filter of our templates.

Parameters carry dates as ISO text ("2026-04-07", JSON has no date type); each language
variant of a template says how it wants them shown, e.g. `{{ collection_date|datelabel("en") }}`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

_WEEKDAYS: dict[str, tuple[str, ...]] = {
    "ja": ("月", "火", "水", "木", "金", "土", "日"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "ko": ("월", "화", "수", "목", "금", "토", "일"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "vi": ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"),
    "pt": (
        "segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira",
        "sábado", "domingo",
    ),
}
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)


def as_date(value: Any) -> date:
    """A date from a date, a datetime or ISO text; ValueError names the bad value."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date (expected YYYY-MM-DD)")


def date_label(value: Any, language: str = "ja") -> str:
    """`2026-04-07` -> 4月7日(火) (ja, easy-ja), Tuesday, April 7 (en), 4月7日(周二) (zh),
    4월 7일(화) (ko), Thứ Ba, 7/4 (vi), terça-feira, 7/4 (pt). Unknown languages get ja."""
    day = as_date(value)
    weekday = day.weekday()
    if language == "en":
        return f"{_WEEKDAYS['en'][weekday]}, {_MONTHS_EN[day.month - 1]} {day.day}"
    if language in ("vi", "pt"):
        return f"{_WEEKDAYS[language][weekday]}, {day.day}/{day.month}"
    if language == "ko":
        return f"{day.month}월 {day.day}일({_WEEKDAYS['ko'][weekday]})"
    if language == "zh":
        return f"{day.month}月{day.day}日({_WEEKDAYS['zh'][weekday]})"
    return f"{day.month}月{day.day}日({_WEEKDAYS['ja'][weekday]})"
