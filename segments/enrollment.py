"""The settings conversation residents have with the city's LINE account (配信設定).

One question at a time, answered by tapping quick replies: language first (each offered in
its own name, so nobody answers a question they cannot read) → district (地区) → garbage
zone (収集地区) → garbage reminder timing → interests (multi-select, then 「完了」) → a
summary. Every text after the first question is in the chosen language, from
`segments.catalog`. Everything here is pure: a resident's current `Choices` and one event
in, an `Outcome` (column changes, the new interest set, reply messages) out. The webhook
applies the outcome in one transaction and sends the replies. This module holds the entry
points; the parts are their own modules: the stored choices and the outcome
(`segments.choices`), the questions and the summary (`segments.questions`), and the stop
list (`segments.stops`).

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

from dataclasses import replace

from segments.catalog import LANGUAGE_NAMES, action_for_word
from segments.choices import Choices, Options, Outcome
from segments.questions import (
    LANGUAGE_ACTION,
    LANGUAGE_STEP,
    SETTINGS_ACTION,
    SINGLE,
    Step,
    advance,
    ask,
    ask_language,
    current_step,
    summary,
)
from segments.quick_replies import button, parse_postback, postback_data, text_message
from segments.stops import STOP_ACTION, ask_stops


def welcome(choices: Choices, options: Options, *, returning: bool) -> Outcome:
    """The follow reply. A returning resident with choices keeps them and sees a summary in
    their language; anyone else is first asked their language, in every language."""
    if returning and choices.district is not None:
        texts = options.texts(choices.language)
        text = texts("welcome.back") + "\n\n" + summary(choices, options)
        change = button(texts("button.change"), postback_data(action=SETTINGS_ACTION))
        return Outcome(changes={"enrollment_step": None}, messages=[text_message(text, [change])])
    return ask(Step.language, choices, options, changes={"enrollment_step": Step.language.value})


def start(choices: Choices, options: Options) -> Outcome:
    """「配信設定」 or the rich menu: ask the questions again from the district (choices and
    language are kept; the language has its own command)."""
    return ask(Step.district, choices, options, changes={"enrollment_step": Step.district.value})


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
            + summary(changed, options)
        )
        return Outcome(
            changes={"language": value, "enrollment_step": None}, messages=[text_message(text)]
        )
    if key in SINGLE:
        step, column = SINGLE[key]
        if "page" in fields:
            return _page(step, choices, options, fields["page"])
        value = fields.get("v")
        if value not in options.values_for(key):
            return refused(choices, options)
        # Every single-choice column is a str field of Choices.
        updated = replace(choices, **{column: value})  # type: ignore[arg-type]
        return advance(step, updated, options, {column: value})
    if key == "interest":
        if "page" in fields:
            return _page(Step.interests, choices, options, fields["page"])
        value = fields.get("v")
        if value not in options.interests:
            return refused(choices, options)
        chosen = choices.interests ^ {value}
        updated = replace(choices, interests=chosen, step=Step.interests.value)
        return ask(
            Step.interests,
            updated,
            options,
            changes={"enrollment_step": Step.interests.value},
            interests=chosen,
        )
    if key == "interests" and fields.get("done") == "1":
        return advance(Step.interests, choices, options, {})
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
        text = texts("done.stops") + "\n\n" + summary(choices, options)
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
    step = current_step(choices)
    if step is None:
        return None
    hint = (
        []
        if step is Step.language
        else [text_message(options.texts(choices.language)("ask.use_buttons"))]
    )
    return ask(step, choices, options, before=hint)


def refused(choices: Choices, options: Options) -> Outcome:
    """A postback we cannot accept (forged, or a list changed since it was offered):
    nothing is stored; the current question, if any, is asked again."""
    texts = options.texts(choices.language)
    apology = texts("refused.apology")
    if choices.step == LANGUAGE_STEP:
        return Outcome(messages=[text_message(apology), *ask_language(choices, options).messages])
    step = current_step(choices)
    if step is None:
        hint = texts("refused.hint", settings=texts.word(SETTINGS_ACTION))
        return Outcome(messages=[text_message(apology + "\n" + hint)])
    return ask(step, choices, options, before=[text_message(apology + texts("refused.again"))])


def _page(step: Step, choices: Choices, options: Options, raw: str) -> Outcome:
    if not raw.isdigit():
        return refused(choices, options)
    return ask(step, choices, options, page=int(raw), changes={"enrollment_step": step.value})
