"""The notice form: what a clerk fills in, and the `BroadcastRequest` it stands for.

The form speaks the clerk's language (地区 checkboxes, an age range, 「毎週月曜日 9:00」,
one text per language); this module turns it into exactly what the API takes (a rule, an
inline template, a recurrence expression). Nothing here checks
what the core checks: `check_request` does that, the same way for the API and the console.
What only the form can get wrong (a date it cannot read, an age range upside down) is
refused here, with the control it concerns. The text boxes become one template in
`notice_template`; a stored notice is read back into this form in `notice_prefill`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.datastructures import FormData

from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.catalog import text
from broadcaster.console.notice_template import compose_template
from broadcaster.policies import hold
from broadcaster.recurrence import RecurrenceError, next_time
from broadcaster.settings import Settings
from segments.rule_parser import MAX_AGE

# Languages a notice may have its own text in (others read the Japanese one), and the
# form control each is typed in.
VARIANTS = {"easy-ja": "text_easy_ja", "en": "text_en"}
REPEATS = {
    "none": "繰り返さない",
    "daily": "毎日",
    "weekdays": "平日（月〜金）",
    "weekly": "毎週",
    "monthly_day": "毎月（日付）",
    "monthly_nth": "毎月（第何曜日）",
}
WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NTHS = {"1": "第1", "2": "第2", "3": "第3", "4": "第4", "L": "最終"}
# The template variables a clerk may insert (what a template may read of a resident).
VARIABLES = (
    ("{{ resident.district }}", "受け取る人の地区名"),
    ("{{ resident.garbage_zone }}", "受け取る人のごみ収集地区"),
)


class FormRefused(Exception):
    """The form itself cannot be read: a Japanese message per control, nothing stored."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = dict(fields)


def message(code: str, **params: Any) -> str:
    """A console refusal text from the catalog (errors.po, console.notice.*)."""
    return text(f"console.notice.{code}", "ja", params) or code


@dataclass
class NoticeForm:
    """What the form holds (and shows again, as typed, after a refusal)."""

    title: str = ""
    category: str = "general"
    text: str = ""
    variants: dict[str, str] = field(default_factory=dict)
    districts: list[str] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)
    interests: list[str] = field(default_factory=list)
    interests_mode: str = "any"
    languages: list[str] = field(default_factory=list)
    age_min: str = ""
    age_max: str = ""
    flags: dict[str, str] = field(default_factory=dict)  # flag -> "" | "yes" | "no"
    segment_id: str = ""
    kept_rule: str = ""  # a rule made elsewhere (the API) the form cannot show as choices
    when: str = "at"  # "at" | "now"
    send_at: str = ""  # datetime-local, Asia/Tokyo
    repeat: str = "none"
    repeat_weekday: str = "mon"
    repeat_nth: str = "1"
    repeat_day: str = "1"
    digest: bool = False
    confirm_all: bool = False

    @classmethod
    def read(cls, data: FormData, settings: Settings) -> NoticeForm:
        one = _reader(data)
        flags = settings.residents.household_flags
        return cls(
            title=one("title").strip(),
            category=one("category") or "general",
            text=one("text"),
            variants={lang: one(name) for lang, name in VARIANTS.items() if one(name).strip()},
            districts=_many(data, "districts"),
            zones=_many(data, "zones"),
            interests=_many(data, "interests"),
            interests_mode="all" if one("interests_mode") == "all" else "any",
            languages=_many(data, "languages"),
            age_min=one("age_min").strip(),
            age_max=one("age_max").strip(),
            flags={flag: one(f"flag_{i}") for i, flag in enumerate(flags) if one(f"flag_{i}")},
            segment_id=one("segment_id"),
            kept_rule=one("kept_rule"),
            when="now" if one("when") == "now" else "at",
            send_at=one("send_at").strip(),
            repeat=one("repeat") if one("repeat") in REPEATS else "none",
            repeat_weekday=one("repeat_weekday") or "mon",
            repeat_nth=one("repeat_nth") or "1",
            repeat_day=one("repeat_day") or "1",
            digest=one("digest") == "true",
            confirm_all=one("confirm_all") == "true",
        )

    # -- what it asks for ------------------------------------------------------------

    def conditions(self) -> list[dict[str, Any]]:
        """The target as rule conditions (all must hold); refuses an unreadable age."""
        found: list[dict[str, Any]] = []
        if self.districts:
            found.append({"field": "district", "op": "in", "value": self.districts})
        if self.zones:
            found.append({"field": "garbage_zone", "op": "in", "value": self.zones})
        if self.interests and self.interests_mode == "all":
            found += [{"field": "interests", "op": "contains", "value": i} for i in self.interests]
        elif self.interests:
            found.append({"field": "interests", "op": "contains_any", "value": self.interests})
        if self.languages:
            found.append({"field": "language", "op": "in", "value": self.languages})
        low, high = _age(self.age_min, "age_min"), _age(self.age_max, "age_max")
        if low is not None and high is not None:
            if low > high:
                raise FormRefused({"age_max": message("age_order")})
            found.append({"field": "age", "op": "between", "value": [low, high]})
        elif low is not None:
            found.append({"field": "age", "op": "gte", "value": low})
        elif high is not None:
            found.append({"field": "age", "op": "lte", "value": high})
        for flag, answer in self.flags.items():
            if answer in ("yes", "no"):
                found.append({"field": flag, "op": "eq", "value": answer == "yes"})
        return found

    def rule(self) -> dict[str, Any] | None:
        conditions = self.conditions()
        if conditions:
            return {"all": conditions}
        if self.kept_rule:
            try:
                kept = json.loads(self.kept_rule)
            except ValueError:
                raise FormRefused({"targets": message("rule")}) from None
            return kept if isinstance(kept, dict) else None
        return None

    def segment(self) -> int | None:
        if not self.segment_id:
            return None
        if not self.segment_id.isdigit():
            raise FormRefused({"segment_id": message("segment")})
        if self.conditions():
            raise FormRefused({"segment_id": message("segment_with_conditions")})
        return int(self.segment_id)

    def everyone(self) -> bool:
        """No condition and no saved segment: the notice goes to every resident."""
        return not self.segment_id and self.rule() is None

    def template(self) -> str:
        return compose_template(self.text, self.variants)

    def recurrence(self, first: datetime | None) -> str | None:
        if self.repeat == "none":
            return None
        if first is None:
            raise FormRefused({"send_at": message("repeat_needs_time")})
        clock = f"{first.minute} {first.hour}"
        weekday = self.repeat_weekday if self.repeat_weekday in WEEKDAY_CODES else "mon"
        if self.repeat == "daily":
            return f"{clock} * * *"
        if self.repeat == "weekdays":
            return f"{clock} * * mon-fri"
        if self.repeat == "weekly":
            return f"{clock} * * {weekday}"
        if self.repeat == "monthly_day":
            if not (self.repeat_day.isdigit() and 1 <= int(self.repeat_day) <= 31):
                raise FormRefused({"repeat_day": message("repeat_day")})
            return f"{clock} {int(self.repeat_day)} * *"
        nth = self.repeat_nth if self.repeat_nth in NTHS else "1"
        return f"{clock} * * {weekday}#{nth}"

    def when_local(self, settings: Settings) -> datetime | None:
        """The chosen send time (aware, the city's zone); None: now."""
        if self.when == "now":
            return None
        if not self.send_at:
            raise FormRefused({"send_at": message("send_at_missing")})
        try:
            chosen = datetime.fromisoformat(self.send_at)
        except ValueError:
            raise FormRefused({"send_at": message("send_at_format")}) from None
        return chosen.replace(tzinfo=settings.tz) if chosen.tzinfo is None else chosen

    def request(self, settings: Settings, *, draft: bool = False) -> BroadcastRequest:
        """The request this form stands for. Raises FormRefused (every unreadable control
        at once) before the core checks the rest."""
        refused: dict[str, str] = {}
        parts: dict[str, Any] = {}
        for name, read in (
            ("rule", self.rule),
            ("segment_id", self.segment),
            ("send_at", lambda: self.when_local(settings)),
        ):
            try:
                parts[name] = read()
            except FormRefused as exc:
                refused.update(exc.fields)
        if not self.text.strip():
            refused["text"] = message("text_empty")
        recurrence: str | None = None
        if "send_at" in parts:
            try:
                recurrence = self.recurrence(parts["send_at"])
            except FormRefused as exc:
                refused.update(exc.fields)
        if refused:
            raise FormRefused(refused)
        send_at = parts["send_at"]
        if recurrence is not None and send_at is not None:
            # The first send is the recurrence's first firing from the chosen time, so a
            # 「毎週月曜日」 notice chosen for a Tuesday starts on the next Monday.
            try:
                send_at = next_time(recurrence, send_at - timedelta(seconds=1), settings.tz)
            except RecurrenceError:
                raise FormRefused({"repeat": message("repeat")}) from None
        return BroadcastRequest(
            title=self.title,
            category=self.category,
            template_text=self.template(),
            segment_id=parts["segment_id"],
            rule=None if parts["segment_id"] is not None else parts["rule"],
            send_at=send_at,
            recurrence=recurrence,
            draft=draft,
            digest=self.digest,
        )

    def changes(self, settings: Settings, *, draft: bool) -> dict[str, Any]:
        """The same request as a PATCH body (`update_broadcast`'s changes): every field."""
        request = self.request(settings, draft=draft)
        return {
            "title": request.title,
            "category": request.category,
            "template_text": request.template_text,
            "template_name": None,
            "rule": request.rule,
            "segment_id": request.segment_id,
            "send_at": request.send_at,
            "recurrence": request.recurrence,
            "draft": draft,
            "digest": request.digest,
        }

    def hidden(self) -> list[tuple[str, str]]:
        """The form as hidden fields, for the confirmation step to post again."""
        pairs = [
            ("title", self.title),
            ("category", self.category),
            ("text", self.text),
            *((VARIANTS[lang], value) for lang, value in self.variants.items()),
            *(("districts", v) for v in self.districts),
            *(("zones", v) for v in self.zones),
            *(("interests", v) for v in self.interests),
            ("interests_mode", self.interests_mode),
            *(("languages", v) for v in self.languages),
            ("age_min", self.age_min),
            ("age_max", self.age_max),
            ("segment_id", self.segment_id),
            ("kept_rule", self.kept_rule),
            ("when", self.when),
            ("send_at", self.send_at),
            ("repeat", self.repeat),
            ("repeat_weekday", self.repeat_weekday),
            ("repeat_nth", self.repeat_nth),
            ("repeat_day", self.repeat_day),
            ("digest", "true" if self.digest else ""),
        ]
        return [(name, value) for name, value in pairs if value]

    def hidden_flags(self, settings: Settings) -> list[tuple[str, str]]:
        return [
            (f"flag_{i}", self.flags[flag])
            for i, flag in enumerate(settings.residents.household_flags)
            if flag in self.flags
        ]


def _reader(data: FormData) -> Any:
    def one(name: str) -> str:
        value = data.get(name)
        return value if isinstance(value, str) else ""

    return one


def _many(data: FormData, name: str) -> list[str]:
    return [v for v in data.getlist(name) if isinstance(v, str) and v]


def _age(raw: str, control: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > MAX_AGE:
        raise FormRefused({control: message("age", maximum=MAX_AGE)})
    return int(raw)


def digest_offered(settings: Settings) -> bool:
    return settings.frequency.digest_enabled and hold() is not None
