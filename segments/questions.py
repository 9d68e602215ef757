"""The settings questions (配信設定), one at a time, answered by tapping quick replies.

Language first (each offered in its own name, so nobody answers a question they cannot
read) → district (地区) → garbage zone (収集地区) → garbage reminder timing → interests
(multi-select, then 「完了」) → a summary. Every text after the first question is in the
chosen language, from `segments.catalog`. The language is also asked on its own
(`ask_language`, `set=lang&v=en`) at any time, without repeating the other questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from segments.catalog import CHOOSE_LANGUAGE, LANGUAGE_NAMES
from segments.choices import Choices, Options, Outcome
from segments.quick_replies import (
    MAX_QUICK_REPLIES,
    button,
    paginate,
    postback_data,
    text_message,
)
from segments.stops import STOP_ACTION, stopped

SETTINGS_ACTION = "settings"
LANGUAGE_ACTION = "language"
# The Japanese command word (kept for other areas' texts); every language's are in the
# catalog's `words` tables.
SETTINGS_TEXT = "配信設定"
# Resident.enrollment_step while the language change is open (it is not one of the
# questions).
LANGUAGE_STEP = "lang"
# Japanese labels, for staff screens and for the reference; residents get their catalog's.
LANGUAGE_LABELS = dict(LANGUAGE_NAMES)


class Step(StrEnum):
    """Values of Resident.enrollment_step, in the order they are asked."""

    language = "language"
    district = "district"
    zone = "zone"
    reminder = "reminder"
    interests = "interests"


STEPS: tuple[Step, ...] = tuple(Step)
# Postback `set=` keys that choose one value, and the Resident column each one sets.
SINGLE: dict[str, tuple[Step, str]] = {
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


def summary(choices: Choices, options: Options) -> str:
    """The resident's current settings as shown at the end of the conversation."""
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
        texts("summary.stopped", value=stopped(choices, options, texts)),
    )
    hint = texts(
        "summary.hint",
        settings=texts.word(SETTINGS_ACTION),
        stop=texts.word(STOP_ACTION),
        language=texts.word(LANGUAGE_ACTION),
    )
    return "\n".join(lines) + "\n\n" + hint


def advance(step: Step, choices: Choices, options: Options, changes: dict[str, Any]) -> Outcome:
    """`step` answered (its column in `changes`): the next question, or the summary after
    the last."""
    index = STEPS.index(step)
    if index + 1 < len(STEPS):
        following = STEPS[index + 1]
        before: list[dict[str, Any]] = []
        if step is Step.language:
            # The first words in the resident's language: who we are, how many questions.
            texts = options.texts(choices.language)
            before = [text_message(texts("welcome.thanks", count=len(STEPS) - 1))]
        return ask(
            following,
            choices,
            options,
            changes={**changes, "enrollment_step": following.value},
            before=before,
        )
    texts = options.texts(choices.language)
    text = texts("done.enrolled") + "\n\n" + summary(choices, options)
    return Outcome(
        changes={**changes, "enrollment_step": None},
        messages=[
            text_message(
                text, [button(texts("button.redo"), postback_data(action=SETTINGS_ACTION))]
            )
        ],
    )


def ask(
    step: Step,
    choices: Choices,
    options: Options,
    *,
    page: int = 0,
    changes: dict[str, Any] | None = None,
    interests: frozenset[str] | None = None,
    before: Sequence[dict[str, Any]] = (),
) -> Outcome:
    """The question of `step` (its `page` of buttons), after the messages `before`."""
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
        key = next(k for k, (s, _) in SINGLE.items() if s is step)
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


def current_step(choices: Choices) -> Step | None:
    """The question the resident is answering, or None (none, or a step no longer asked)."""
    try:
        return Step(choices.step) if choices.step else None
    except ValueError:
        return None
