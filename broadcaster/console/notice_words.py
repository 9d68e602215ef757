"""Notices in words: a rule, a language, a status, a recurrence as a clerk reads them.

The console never shows a rule's JSON or a language code: 「地区が 北・南、65歳以上」,
「やさしい日本語」. One place for these words, so the form, the confirmation, the notice
page and the calendar say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segments.catalog import STAFF_LANGUAGE_NAMES

FIELD_NAMES = {
    "district": "地区",
    "garbage_zone": "収集地区",
    "language": "言語",
    "interests": "関心",
    "age": "年齢",
    "birth_year": "生年",
    "reminder_timing": "ごみ出し通知",
}
TIMING_NAMES = {"eve": "前日の夕方", "morning": "当日の朝", "off": "受け取らない"}
STATUS_LABELS = {
    "draft": "下書き",
    "awaiting_approval": "承認待ち",
    "scheduled": "予約済み",
    "held": "保留中（災害対応中）",
    "sending": "配信中",
    "sent": "配信完了",
    "partially_failed": "一部失敗",
    "cancelled": "取消（送信していません）",
    "expired": "期限切れ（送信していません）",
    "failed": "失敗（配信できず）",
}
# Said when a finished send reached no one: not a green 配信完了.
REACHED_NOBODY = "誰にも届いていません"
DELIVERY_LABELS = {
    "queued": "送信待ち",
    "accepted": "LINEが受け付けた",
    "failed": "失敗",
    "unknown": "結果不明（要確認）",
    "skipped_cap": "上限のため省略",
    "digested": "まとめ配信に入れた",
}
WEEKDAYS = ["月", "火", "水", "木", "金", "土", "日"]
_CRON_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_ORDINAL = {"1": "第1", "2": "第2", "3": "第3", "4": "第4", "5": "第5", "L": "最終", "l": "最終"}


def language_name(code: str) -> str:
    return STAFF_LANGUAGE_NAMES.get(code, code)


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _joined(value: Any, field: str) -> str:
    names = [
        language_name(v)
        if field == "language"
        else TIMING_NAMES.get(v, str(v))
        if field == "reminder_timing"
        else str(v)
        for v in _values(value)
    ]
    return "・".join(names)


def condition_words(condition: Mapping[str, Any]) -> str:
    field, op, value = condition["field"], condition["op"], condition.get("value")
    name = FIELD_NAMES.get(field, field)
    if field == "age":
        if op == "gte":
            return f"{value}歳以上"
        if op == "lte":
            return f"{value}歳以下"
        if op == "between":
            low, high = _values(value)
            return f"{low}〜{high}歳"
    if op == "is_set":
        return f"{name}を登録している" if value else f"{name}が未登録"
    if isinstance(value, bool):
        return f"{name}：該当" if value else f"{name}：非該当"
    if op == "contains":
        return f"{name}に「{value}」"
    if op == "contains_any":
        return f"{name}が {_joined(value, field)} のいずれか"
    if op in ("ne", "not_in"):
        return f"{name}が {_joined(value, field)} 以外"
    if op in ("gte", "lte"):
        return f"{name}が {value} {'以上' if op == 'gte' else '以下'}"
    if op == "between":
        low, high = _values(value)
        return f"{name}が {low}〜{high}"
    return f"{name}が {_joined(value, field)}"


def rule_words(rule: Mapping[str, Any] | None) -> str:
    """A rule as one line of Japanese (empty: everyone following)."""
    if not rule:
        return "全員（友だち登録中の全員）"
    return _words(rule)


def _words(rule: Mapping[str, Any]) -> str:
    if "all" in rule:
        return "、".join(_words(r) for r in rule["all"]) or "全員"
    if "any" in rule:
        return "（" + " または ".join(_words(r) for r in rule["any"]) + "）"
    if "not" in rule:
        return f"「{_words(rule['not'])}」に当てはまらない"
    return condition_words(rule)


def recurrence_words(expression: str | None) -> str:
    """The recurrences the console's picker writes, in words; any other as written."""
    if not expression:
        return "1回のみ"
    parts = expression.split()
    if len(parts) != 5:
        return expression
    minute, hour, day, month, weekday = parts
    if not (minute.isdigit() and hour.isdigit()) or month != "*":
        return f"繰り返し（{expression}）"
    clock = f"{int(hour)}:{int(minute):02d}"
    if day == "*" and weekday == "*":
        return f"毎日 {clock}"
    if day == "*" and weekday == "mon-fri":
        return f"平日（月〜金）{clock}"
    if day == "*" and weekday in _CRON_WEEKDAYS:
        return f"毎週{WEEKDAYS[_CRON_WEEKDAYS[weekday]]}曜日 {clock}"
    if day == "*" and "#" in weekday:
        name, _, nth = weekday.partition("#")
        if name in _CRON_WEEKDAYS and nth in _ORDINAL:
            return f"毎月{_ORDINAL[nth]}{WEEKDAYS[_CRON_WEEKDAYS[name]]}曜日 {clock}"
    if day.isdigit() and weekday == "*":
        return f"毎月{int(day)}日 {clock}"
    return f"繰り返し（{expression}）"
