"""The settings conversation residents have with the city's LINE account (配信設定).

One question at a time, answered by tapping quick replies: language first (each offered in
its own name, so nobody answers a question they cannot read) → district (地区) → garbage
zone (収集地区) → garbage reminder timing → interests (multi-select, then 「完了」) → a
summary. Every text after the first question is in the chosen language, from
`segments.catalog`. Everything here is pure: a resident's current `Choices` and one event
in, an `Outcome` (column changes, the new interest set, reply messages) out. The webhook
applies the outcome in one transaction and sends the replies.

Postback data is a short query string, e.g. `set=district&v=中央`, `set=district&page=1`,
`set=interest&v=防災` (toggle), `set=interests&done=1`, `action=settings` (reopen). Every
value is checked against the configured lists: a forged or stale value changes nothing and
gets a polite reply.

Apart from the questions, 「配信停止」 (or `action=stop`) opens a list of the message
categories to toggle off and on (`set=stop&v=garbage`, `set=stops&done=1`): residents who
are told less of what they don't want keep the account, and so the evacuation order,
which no opt-out stops. 「言語」/"Language"/… (or `action=language`) changes the language
at any time (`set=lang&v=en`) without repeating the other questions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import time
from enum import StrEnum
from typing import Any

from broadcaster.settings import Settings
from segments.catalog import CHOOSE_LANGUAGE, LANGUAGE_NAMES, Texts, action_for_word, texts_for
from segments.quick_replies import (
    MAX_QUICK_REPLIES,
    button,
    paginate,
    parse_postback,
    postback_data,
    text_message,
)
from segments.residents import ReminderTiming

SETTINGS_ACTION = "settings"
STOP_ACTION = "stop"
LANGUAGE_ACTION = "language"
# The Japanese command words (kept for other areas' texts); every language's are in the
# catalog's `words` tables.
SETTINGS_TEXT = "配信設定"
STOP_TEXT = "配信停止"
# Resident.enrollment_step while the stop list or the language change is open (neither is
# one of the questions).
STOP_STEP = "stop"
LANGUAGE_STEP = "lang"
# Japanese labels, for staff screens and for the reference; residents get their catalog's.
LANGUAGE_LABELS = dict(LANGUAGE_NAMES)
JA = texts_for("ja")


class Step(StrEnum):
    """Values of Resident.enrollment_step, in the order they are asked."""

    language = "language"
    district = "district"
    zone = "zone"
    reminder = "reminder"
    interests = "interests"


STEPS: tuple[Step, ...] = tuple(Step)
# Postback `set=` keys that choose one value, and the Resident column each one sets.
_SINGLE: dict[str, tuple[Step, str]] = {
    "language": (Step.language, "language"),
    "district": (Step.district, "district"),
    "zone": (Step.zone, "garbage_zone"),
    "reminder": (Step.reminder, "reminder_timing"),
}
_ASK_KEYS = {
    Step.district: "ask.district",
    Step.zone: "ask.zone",
    Step.reminder: "ask.reminder",
}


@dataclass(frozen=True, slots=True)
class Options:
    """What residents may choose, from configuration (`[residents]`), and the city's labels
    for those names per language."""

    districts: tuple[str, ...]
    zones: tuple[str, ...]
    interests: tuple[str, ...]
    languages: tuple[str, ...]
    categories: tuple[str, ...] = ()
    reminders: tuple[str, ...] = tuple(t.value for t in ReminderTiming)
    eve_time: time = time(19, 0)
    morning_time: time = time(6, 30)
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        """Lists from `[residents]`; reminder timings and their times from `[garbage]`."""
        residents = settings.residents
        garbage = settings.garbage
        return cls(
            districts=tuple(residents.districts),
            zones=tuple(residents.zones),
            interests=tuple(residents.interests),
            languages=tuple(residents.languages),
            categories=tuple(residents.categories),
            reminders=tuple(garbage.timings),
            eve_time=garbage.eve_time,
            morning_time=garbage.morning_time,
            labels=residents.labels,
        )

    def values_for(self, key: str) -> tuple[str, ...]:
        return {
            "district": self.districts,
            "zone": self.zones,
            "reminder": self.reminders,
            "language": self.languages,
            "lang": self.languages,
            "interest": self.interests,
            "stop": self.categories,
        }[key]

    def texts(self, language: str) -> Texts:
        return texts_for(language, self.labels)

    def reminder_label(self, texts: Texts, timing: str) -> str:
        at = {
            ReminderTiming.eve.value: self.eve_time,
            ReminderTiming.morning.value: self.morning_time,
        }
        if timing in at:
            return texts(f"reminder.{timing}", time=texts.clock(at[timing].hour, at[timing].minute))
        return texts("reminder.off") if timing == ReminderTiming.off.value else timing


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
    None if unchanged. The webhook relinks the resident's rich menu when `changes` sets
    the language or the district."""

    changes: dict[str, Any] = field(default_factory=dict)
    interests: frozenset[str] | None = None
    opt_outs: frozenset[str] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)


# -- entry points ---------------------------------------------------------------------------


def welcome(choices: Choices, options: Options, *, returning: bool) -> Outcome:
    """The follow reply. A returning resident with choices keeps them and sees a summary in
    their language; anyone else is first asked their language, in every language."""
    if returning and choices.district is not None:
        texts = options.texts(choices.language)
        text = texts("welcome.back") + "\n\n" + _summary_text(choices, options)
        change = button(texts("button.change"), postback_data(action=SETTINGS_ACTION))
        return Outcome(changes={"enrollment_step": None}, messages=[text_message(text, [change])])
    return _ask(Step.language, choices, options, changes={"enrollment_step": Step.language.value})


def start(choices: Choices, options: Options) -> Outcome:
    """「配信設定」 or the rich menu: ask the questions again from the district (choices and
    language are kept; the language has its own command)."""
    return _ask(Step.district, choices, options, changes={"enrollment_step": Step.district.value})


def ask_language(choices: Choices, options: Options) -> Outcome:
    """「言語」 in any language, or `action=language`: the languages, each in its own name."""
    items = [
        button(LANGUAGE_NAMES.get(value, value), postback_data(set="lang", v=value))
        for value in options.languages
    ]
    return Outcome(
        changes={"enrollment_step": LANGUAGE_STEP},
        messages=[text_message(CHOOSE_LANGUAGE, items[:MAX_QUICK_REPLIES])],
    )


def handle_postback(choices: Choices, options: Options, data: str) -> Outcome | None:
    """The conversation's answer to a postback, or None if the postback is not ours
    (another `action=`, for the webhook's command registry)."""
    fields = parse_postback(data)
    action = fields.get("action")
    if action is not None:
        return handle_action(choices, options, action)
    key = fields.get("set")
    if key == "lang":
        value = fields.get("v")
        if value not in options.languages:
            return refused(choices, options)
        changed = replace(choices, language=value, step=None)
        texts = options.texts(value)
        text = (
            texts("done.language", language=LANGUAGE_NAMES.get(value, value))
            + "\n\n"
            + _summary_text(changed, options)
        )
        return Outcome(
            changes={"language": value, "enrollment_step": None}, messages=[text_message(text)]
        )
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
        texts = options.texts(choices.language)
        text = texts("done.stops") + "\n\n" + _summary_text(choices, options)
        return Outcome(changes={"enrollment_step": None}, messages=[text_message(text)])
    return refused(choices, options)


def handle_action(choices: Choices, options: Options, action: str) -> Outcome | None:
    """The conversation's own actions (settings, stop, language); None for any other."""
    if action == SETTINGS_ACTION:
        return start(choices, options)
    if action == STOP_ACTION:
        return ask_stops(choices, options)
    if action == LANGUAGE_ACTION:
        return ask_language(choices, options)
    return None


def handle_text(choices: Choices, options: Options, text: str) -> Outcome | None:
    """A command word of the conversation (「配信設定」, "Settings", 「ことば」, ...) in any
    language; any other text during a question repeats it. None: not for the conversation."""
    action = action_for_word(text)
    if action is not None:
        outcome = handle_action(choices, options, action)
        if outcome is not None:
            return outcome
    if choices.step == LANGUAGE_STEP:
        return ask_language(choices, options)
    step = _current_step(choices)
    if step is None:
        return None
    hint = (
        []
        if step is Step.language
        else [text_message(options.texts(choices.language)("ask.use_buttons"))]
    )
    return _ask(step, choices, options, before=hint)


def refused(choices: Choices, options: Options) -> Outcome:
    """A postback we cannot accept (forged, or a list changed since it was offered):
    nothing is stored; the current question, if any, is asked again."""
    texts = options.texts(choices.language)
    apology = texts("refused.apology")
    if choices.step == LANGUAGE_STEP:
        return Outcome(messages=[text_message(apology), *ask_language(choices, options).messages])
    step = _current_step(choices)
    if step is None:
        hint = texts("refused.hint", settings=texts.word(SETTINGS_ACTION))
        return Outcome(messages=[text_message(apology + "\n" + hint)])
    return _ask(step, choices, options, before=[text_message(apology + texts("refused.again"))])


def ask_stops(
    choices: Choices,
    options: Options,
    *,
    page: int = 0,
    opt_outs: frozenset[str] | None = None,
) -> Outcome:
    """The categories a resident may stop, each toggled by a tap (✓ = stopped)."""
    texts = options.texts(choices.language)
    items = [
        button(
            ("✓" if value in choices.opt_outs else "") + texts.category(value),
            postback_data(set="stop", v=value),
        )
        for value in options.categories
    ]
    done = texts("button.done")
    fixed = [button(done, postback_data(set="stops", done=1))]
    text = "\n".join(
        (
            texts("stop.ask"),
            texts("stop.emergency_note"),
            texts("stop.current", value=_stopped(choices, options, texts)),
            texts("ask.finish", done=done),
        )
    )
    buttons = paginate(
        items,
        page,
        fixed,
        next_label=texts("button.next"),
        next_data=lambda p: postback_data(set="stop", page=p),
    )
    return Outcome(
        changes={"enrollment_step": STOP_STEP},
        opt_outs=opt_outs,
        messages=[text_message(text, buttons)],
    )


def category_label(category: str) -> str:
    """A category as staff and Japanese-reading residents see it."""
    return JA.category(category)


def _stopped(choices: Choices, options: Options, texts: Texts) -> str:
    return texts.join(texts.category(c) for c in options.categories if c in choices.opt_outs)


def summary(choices: Choices, options: Options) -> str:
    """The resident's current settings as shown at the end of the conversation."""
    return _summary_text(choices, options)


# -- the questions --------------------------------------------------------------------------


def _advance(step: Step, choices: Choices, options: Options, changes: dict[str, Any]) -> Outcome:
    index = STEPS.index(step)
    if index + 1 < len(STEPS):
        following = STEPS[index + 1]
        before: list[dict[str, Any]] = []
        if step is Step.language:
            # The first words in the resident's language: who we are, how many questions.
            texts = options.texts(choices.language)
            before = [text_message(texts("welcome.thanks", count=len(STEPS) - 1))]
        return _ask(
            following,
            choices,
            options,
            changes={**changes, "enrollment_step": following.value},
            before=before,
        )
    texts = options.texts(choices.language)
    text = texts("done.enrolled") + "\n\n" + _summary_text(choices, options)
    return Outcome(
        changes={**changes, "enrollment_step": None},
        messages=[
            text_message(
                text, [button(texts("button.redo"), postback_data(action=SETTINGS_ACTION))]
            )
        ],
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
    texts = options.texts(choices.language)
    number = texts("step", n=STEPS.index(step) + 1, total=len(STEPS))
    fixed: list[dict[str, Any]] = []
    if step is Step.interests:
        items = [
            button(
                ("✓" if value in choices.interests else "") + texts.label(value),
                postback_data(set="interest", v=value),
            )
            for value in options.interests
        ]
        done = texts("button.done")
        fixed = [button(done, postback_data(set="interests", done=1))]
        chosen = texts.join(texts.label(v) for v in options.interests if v in choices.interests)
        text = "\n".join(
            (
                texts("ask.interests") + number,
                texts("ask.interests_chosen", chosen=chosen),
                texts("ask.finish", done=done),
            )
        )
        key = "interest"
    else:
        key = next(k for k, (s, _) in _SINGLE.items() if s is step)
        if step is Step.language:
            text = CHOOSE_LANGUAGE
            label = lambda value: LANGUAGE_NAMES.get(value, value)  # noqa: E731
        elif step is Step.reminder:
            text = texts(_ASK_KEYS[step]) + number
            label = lambda value: options.reminder_label(texts, value)  # noqa: E731
        else:
            text = texts(_ASK_KEYS[step]) + number
            label = texts.label
        items = [
            button(label(value), postback_data(set=key, v=value))
            for value in options.values_for(key)
        ]
    buttons = paginate(
        items,
        page,
        fixed,
        next_label=texts("button.next"),
        next_data=lambda p: postback_data(set=key, page=p),
    )
    return Outcome(
        changes=dict(changes or {}),
        interests=interests,
        messages=[*before, text_message(text, buttons)],
    )


def _page(step: Step, choices: Choices, options: Options, raw: str) -> Outcome:
    if not raw.isdigit():
        return refused(choices, options)
    return _ask(step, choices, options, page=int(raw), changes={"enrollment_step": step.value})


def _summary_text(choices: Choices, options: Options) -> str:
    texts = options.texts(choices.language)
    unset = texts("unset")
    interests = texts.join(sorted(texts.label(i) for i in choices.interests))
    lines = (
        texts("summary.title"),
        texts(
            "summary.district", value=texts.label(choices.district) if choices.district else unset
        ),
        texts(
            "summary.zone",
            value=texts.label(choices.garbage_zone) if choices.garbage_zone else unset,
        ),
        texts("summary.reminder", value=options.reminder_label(texts, choices.reminder_timing)),
        texts("summary.interests", value=interests),
        texts("summary.language", value=LANGUAGE_NAMES.get(choices.language, choices.language)),
        texts("summary.stopped", value=_stopped(choices, options, texts)),
    )
    hint = texts(
        "summary.hint",
        settings=texts.word(SETTINGS_ACTION),
        stop=texts.word(STOP_ACTION),
        language=texts.word(LANGUAGE_ACTION),
    )
    return "\n".join(lines) + "\n\n" + hint


def _current_step(choices: Choices) -> Step | None:
    try:
        return Step(choices.step) if choices.step else None
    except ValueError:
        return None
