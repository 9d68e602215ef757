"""The settings conversation residents have with the city's LINE account (配信設定).

One question at a time, answered by tapping quick replies: district (地区) → garbage zone
(収集地区) → garbage reminder timing → interests (multi-select, then 「完了」) → language →
a summary. Everything here is pure: a resident's current `Choices` and one event in, an
`Outcome` (column changes, the new interest set, reply messages) out. The webhook applies
the outcome in one transaction and sends the replies.

Postback data is a short query string, e.g. `set=district&v=中央`, `set=district&page=1`,
`set=interest&v=防災` (toggle), `set=interests&done=1`, `action=settings` (reopen). Every
value is checked against the configured lists: a forged or stale value changes nothing and
gets a polite reply.

Apart from the questions, 「配信停止」 (or `action=stop`) opens a list of the message
categories to toggle off and on (`set=stop&v=garbage`, `set=stops&done=1`): residents who
are told less of what they don't want keep the account, and so the evacuation order,
which no opt-out stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import time
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

from broadcaster.settings import Settings
from segments.residents import ReminderTiming

# LINE: at most 13 quick-reply buttons, labels at most 20 characters, postback data 300.
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20
MAX_POSTBACK_DATA = 300

SETTINGS_TEXT = "配信設定"
SETTINGS_ACTION = "settings"
STOP_TEXT = "配信停止"
STOP_ACTION = "stop"
# Resident.enrollment_step while the stop list is open (not one of the questions).
STOP_STEP = "stop"
NEXT_LABEL = "次へ"
DONE_LABEL = "完了"

LANGUAGE_LABELS = {
    "ja": "日本語",
    "easy-ja": "やさしい日本語",
    "en": "English",
    "zh": "中文",
    "ko": "한국어",
    "vi": "Tiếng Việt",
    "pt": "Português",
}
# How the shipped message categories read to residents; a city's own show as configured.
CATEGORY_LABELS = {
    "general": "市からのお知らせ",
    "garbage": "ごみ出し",
    "childcare": "子育て",
    "health": "健康・福祉",
    "events": "イベント",
    "tourism": "観光",
    "benefits": "給付・支援",
}
REMINDER_LABELS = {
    ReminderTiming.eve.value: "前日19時",
    ReminderTiming.morning.value: "当日朝6時30分",
    ReminderTiming.off.value: "受け取らない",
}


class Step(StrEnum):
    """Values of Resident.enrollment_step, in the order they are asked."""

    district = "district"
    zone = "zone"
    reminder = "reminder"
    interests = "interests"
    language = "language"


STEPS: tuple[Step, ...] = tuple(Step)
# Postback `set=` keys that choose one value, and the Resident column each one sets.
_SINGLE: dict[str, tuple[Step, str]] = {
    "district": (Step.district, "district"),
    "zone": (Step.zone, "garbage_zone"),
    "reminder": (Step.reminder, "reminder_timing"),
    "language": (Step.language, "language"),
}


@dataclass(frozen=True, slots=True)
class Options:
    """What residents may choose, from configuration (`[residents]`)."""

    districts: tuple[str, ...]
    zones: tuple[str, ...]
    interests: tuple[str, ...]
    languages: tuple[str, ...]
    categories: tuple[str, ...] = ()
    reminders: tuple[str, ...] = tuple(t.value for t in ReminderTiming)
    reminder_labels: tuple[tuple[str, str], ...] = tuple(REMINDER_LABELS.items())

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        """Lists from `[residents]`; reminder timings and their times from `[garbage]`."""
        residents = settings.residents
        garbage = settings.garbage
        labels = {
            ReminderTiming.eve.value: "前日" + _clock(garbage.eve_time),
            ReminderTiming.morning.value: "当日朝" + _clock(garbage.morning_time),
            ReminderTiming.off.value: REMINDER_LABELS[ReminderTiming.off.value],
        }
        return cls(
            districts=tuple(residents.districts),
            zones=tuple(residents.zones),
            interests=tuple(residents.interests),
            languages=tuple(residents.languages),
            categories=tuple(residents.categories),
            reminders=tuple(garbage.timings),
            reminder_labels=tuple(labels.items()),
        )

    def values_for(self, key: str) -> tuple[str, ...]:
        return {
            "district": self.districts,
            "zone": self.zones,
            "reminder": self.reminders,
            "language": self.languages,
            "interest": self.interests,
            "stop": self.categories,
        }[key]


@dataclass(frozen=True, slots=True)
class Choices:
    """The part of a resident the conversation reads."""

    district: str | None = None
    garbage_zone: str | None = None
    reminder_timing: str = ReminderTiming.eve.value
    interests: frozenset[str] = frozenset()
    language: str = "ja"
    step: str | None = None
    opt_outs: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to store and what to answer. `changes` maps Resident columns to new values
    (`enrollment_step` included); `interests` and `opt_outs` are the complete new sets, or
    None if unchanged."""

    changes: dict[str, Any] = field(default_factory=dict)
    interests: frozenset[str] | None = None
    opt_outs: frozenset[str] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)


def postback_data(**fields: str | int) -> str:
    """Compact, URL-encoded postback data; raises ValueError if LINE would refuse it."""
    # Only the characters that would break the query syntax are escaped: percent-encoding
    # every kanji would triple its length against LINE's 300-character limit.
    data = "&".join(f"{key}={_escape(str(value))}" for key, value in fields.items())
    if len(data) > MAX_POSTBACK_DATA:
        raise ValueError(
            f"postback data is {len(data)} characters, LINE allows {MAX_POSTBACK_DATA}"
        )
    return data


def _clock(at: time) -> str:
    """19:00 -> 19時, 6:30 -> 6時30分 (how a Japanese notice states a time)."""
    return f"{at.hour}時" + (f"{at.minute}分" if at.minute else "")


def _escape(value: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in "%&=+#;" or ord(c) < 32 else c for c in value)


def parse_postback(data: str) -> dict[str, str]:
    """The postback's fields (first value of each); malformed data gives an empty dict."""
    try:
        parsed = parse_qs(data, keep_blank_values=True, strict_parsing=True, max_num_fields=8)
    except ValueError:
        return {}
    return {key: values[0] for key, values in parsed.items()}


# -- entry points ---------------------------------------------------------------------------


def welcome(choices: Choices, options: Options, *, returning: bool) -> Outcome:
    """The follow reply. A returning resident with choices keeps them and sees a summary;
    anyone else starts the conversation at the district question."""
    if returning and choices.district is not None:
        summary_text = _summary_text(choices, options)
        text = "おかえりなさい。以前の配信設定を引き継いでいます。\n\n" + summary_text
        change = _item("設定を変更する", postback_data(action=SETTINGS_ACTION))
        return Outcome(changes={"enrollment_step": None}, messages=[_text(text, [change])])
    intro = _text(
        "友だち追加ありがとうございます。市からのお知らせをLINEでお届けします。\n"
        "はじめに、受け取るお知らせの設定をします（5つの質問）。"
    )
    return _ask(
        Step.district,
        choices,
        options,
        changes={"enrollment_step": Step.district.value},
        before=[intro],
    )


def start(choices: Choices, options: Options) -> Outcome:
    """「配信設定」 or the rich menu: ask the first question again (choices are kept)."""
    return _ask(Step.district, choices, options, changes={"enrollment_step": Step.district.value})


def handle_postback(choices: Choices, options: Options, data: str) -> Outcome | None:
    """The conversation's answer to a postback, or None if the postback is not ours
    (another `action=`, for the webhook's command registry)."""
    fields = parse_postback(data)
    action = fields.get("action")
    if action is not None:
        if action == SETTINGS_ACTION:
            return start(choices, options)
        return ask_stops(choices, options) if action == STOP_ACTION else None
    key = fields.get("set")
    if key in _SINGLE:
        step, column = _SINGLE[key]
        if "page" in fields:
            return _page(step, choices, options, fields["page"])
        value = fields.get("v")
        if value not in options.values_for(key):
            return refused(choices, options)
        # Every single-choice column is a str field of Choices.
        updated = replace(choices, **{column: value})  # type: ignore[arg-type]
        return _advance(step, updated, options, {column: value})
    if key == "interest":
        if "page" in fields:
            return _page(Step.interests, choices, options, fields["page"])
        value = fields.get("v")
        if value not in options.interests:
            return refused(choices, options)
        chosen = choices.interests ^ {value}
        updated = replace(choices, interests=chosen, step=Step.interests.value)
        return _ask(
            Step.interests,
            updated,
            options,
            changes={"enrollment_step": Step.interests.value},
            interests=chosen,
        )
    if key == "interests" and fields.get("done") == "1":
        return _advance(Step.interests, choices, options, {})
    if key == "stop":
        if "page" in fields and fields["page"].isdigit():
            return ask_stops(choices, options, page=int(fields["page"]))
        value = fields.get("v")
        if value not in options.categories:
            return refused(choices, options)
        stopped = choices.opt_outs ^ {value}
        return ask_stops(replace(choices, opt_outs=stopped), options, opt_outs=stopped)
    if key == "stops" and fields.get("done") == "1":
        text = "配信停止の設定を保存しました。\n\n" + _summary_text(choices, options)
        return Outcome(changes={"enrollment_step": None}, messages=[_text(text)])
    return refused(choices, options)


def handle_text(choices: Choices, options: Options, text: str) -> Outcome | None:
    """「配信設定」 starts the conversation; any other text during it repeats the current
    question. None: the text is not for the conversation."""
    if text == SETTINGS_TEXT:
        return start(choices, options)
    if text == STOP_TEXT:
        return ask_stops(choices, options)
    step = _current_step(choices)
    if step is None:
        return None
    hint = _text("下のボタンから選んでください。")
    return _ask(step, choices, options, before=[hint])


def refused(choices: Choices, options: Options) -> Outcome:
    """A postback we cannot accept (forged, or a list changed since it was offered):
    nothing is stored; the current question, if any, is asked again."""
    apology = "申し訳ありません。その選択肢は受け付けられませんでした。"
    step = _current_step(choices)
    if step is None:
        hint = f"\n設定を変更するときは「{SETTINGS_TEXT}」と送ってください。"
        return Outcome(messages=[_text(apology + hint)])
    return _ask(step, choices, options, before=[_text(apology + "もう一度お選びください。")])


def ask_stops(
    choices: Choices,
    options: Options,
    *,
    page: int = 0,
    opt_outs: frozenset[str] | None = None,
) -> Outcome:
    """The categories a resident may stop, each toggled by a tap (✓ = stopped)."""
    items = [
        _item(
            ("✓" if value in choices.opt_outs else "") + category_label(value),
            postback_data(set="stop", v=value),
        )
        for value in options.categories
    ]
    fixed = [_item(DONE_LABEL, postback_data(set="stops", done=1))]
    text = (
        "受け取りたくないお知らせを選んでください（選ぶと停止、もう一度選ぶと再開）。\n"
        "避難情報など緊急のお知らせは、この設定にかかわらず届きます。\n"
        f"停止中: {_stopped(choices, options)}\n選び終わったら「{DONE_LABEL}」を押してください。"
    )
    buttons = _paginate(items, page, fixed, next_data=lambda p: postback_data(set="stop", page=p))
    return Outcome(
        changes={"enrollment_step": STOP_STEP}, opt_outs=opt_outs, messages=[_text(text, buttons)]
    )


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category)


def _stopped(choices: Choices, options: Options) -> str:
    return (
        "、".join(category_label(c) for c in options.categories if c in choices.opt_outs) or "なし"
    )


def summary(choices: Choices, options: Options) -> str:
    """The resident's current settings as shown at the end of the conversation."""
    return _summary_text(choices, options)


# -- the questions --------------------------------------------------------------------------


def _advance(step: Step, choices: Choices, options: Options, changes: dict[str, Any]) -> Outcome:
    index = STEPS.index(step)
    if index + 1 < len(STEPS):
        following = STEPS[index + 1]
        return _ask(
            following, choices, options, changes={**changes, "enrollment_step": following.value}
        )
    text = "配信設定が完了しました。ありがとうございます。\n\n" + _summary_text(choices, options)
    return Outcome(
        changes={**changes, "enrollment_step": None},
        messages=[_text(text, [_item("設定をやり直す", postback_data(action=SETTINGS_ACTION))])],
    )


def _ask(
    step: Step,
    choices: Choices,
    options: Options,
    *,
    page: int = 0,
    changes: dict[str, Any] | None = None,
    interests: frozenset[str] | None = None,
    before: Sequence[dict[str, Any]] = (),
) -> Outcome:
    number = f"（{STEPS.index(step) + 1}/{len(STEPS)}）"
    fixed: list[dict[str, Any]] = []
    if step is Step.interests:
        items = [
            _item(
                ("✓" if value in choices.interests else "") + value,
                postback_data(set="interest", v=value),
            )
            for value in options.interests
        ]
        fixed = [_item(DONE_LABEL, postback_data(set="interests", done=1))]
        chosen = "、".join(v for v in options.interests if v in choices.interests) or "なし"
        text = (
            f"関心のある分野を選んでください（複数選べます）。{number}\n"
            f"選んだ分野: {chosen}\n選び終わったら「{DONE_LABEL}」を押してください。"
        )
        key = "interest"
    else:
        key = next(k for k, (s, _) in _SINGLE.items() if s is step)
        labels = {"reminder": dict(options.reminder_labels), "language": LANGUAGE_LABELS}.get(
            key, {}
        )
        items = [
            _item(labels.get(value, value), postback_data(set=key, v=value))
            for value in options.values_for(key)
        ]
        text = {
            Step.district: "お住まいの地区を選んでください。",
            Step.zone: "ごみの収集地区を選んでください。",
            Step.reminder: "ごみ出しのお知らせはいつ受け取りますか？",
            Step.language: "お知らせを受け取る言語を選んでください。",
        }[step] + number
    buttons = _paginate(items, page, fixed, next_data=lambda p: postback_data(set=key, page=p))
    return Outcome(
        changes=dict(changes or {}),
        interests=interests,
        messages=[*before, _text(text, buttons)],
    )


def _page(step: Step, choices: Choices, options: Options, raw: str) -> Outcome:
    if not raw.isdigit():
        return refused(choices, options)
    return _ask(step, choices, options, page=int(raw), changes={"enrollment_step": step.value})


def _paginate(
    items: list[dict[str, Any]], page: int, fixed: list[dict[str, Any]], *, next_data: Any
) -> list[dict[str, Any]]:
    """Up to 13 buttons; a longer list shows pages with 「次へ」 (the last page wraps)."""
    room = MAX_QUICK_REPLIES - len(fixed)
    if len(items) <= room:
        return items + fixed
    size = room - 1
    pages = -(-len(items) // size)
    page %= pages
    shown = items[page * size : (page + 1) * size]
    return [*shown, _item(NEXT_LABEL, next_data((page + 1) % pages)), *fixed]


def _summary_text(choices: Choices, options: Options) -> str:
    interests = "、".join(sorted(choices.interests)) or "なし"
    timing = choices.reminder_timing
    return (
        "【現在の配信設定】\n"
        f"地区: {choices.district or '未設定'}\n"
        f"収集地区: {choices.garbage_zone or '未設定'}\n"
        f"ごみ出し通知: {dict(options.reminder_labels).get(timing, timing)}\n"
        f"関心: {interests}\n"
        f"言語: {LANGUAGE_LABELS.get(choices.language, choices.language)}\n"
        f"停止中のお知らせ: {_stopped(choices, options)}\n\n"
        f"変更するときは「{SETTINGS_TEXT}」、止めたいお知らせがあるときは"
        f"「{STOP_TEXT}」と送ってください。"
    )


def _current_step(choices: Choices) -> Step | None:
    try:
        return Step(choices.step) if choices.step else None
    except ValueError:
        return None


def _text(text: str, quick: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "text", "text": text}
    if quick:
        message["quickReply"] = {"items": quick}
    return message


def _item(label: str, data: str) -> dict[str, Any]:
    short = label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"
    return {
        "type": "action",
        "action": {"type": "postback", "label": short, "data": data, "displayText": label},
    }
