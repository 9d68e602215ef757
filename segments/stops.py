"""The stop list (配信停止): the message categories a resident turns off and on.

「配信停止」 (or `action=stop`) opens a list of the categories to toggle, one tap each
(`set=stop&v=garbage`), closed by `set=stops&done=1`: residents who are told less of what
they don't want keep the account, and so the evacuation order, which no opt-out stops.
"""

from __future__ import annotations

from segments.catalog import Texts, texts_for
from segments.choices import Choices, Options, Outcome
from segments.quick_replies import button, paginate, postback_data, text_message

STOP_ACTION = "stop"
# The Japanese command word (kept for other areas' texts); every language's are in the
# catalog's `words` tables.
STOP_TEXT = "配信停止"
# Resident.enrollment_step while the stop list is open (it is not one of the questions).
STOP_STEP = "stop"
JA = texts_for("ja")


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
            texts("stop.current", value=stopped(choices, options, texts)),
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


def stopped(choices: Choices, options: Options, texts: Texts) -> str:
    """The categories the resident has stopped, in `texts`' language (for summaries)."""
    return texts.join(texts.category(c) for c in options.categories if c in choices.opt_outs)
