"""A stored notice read back into the notice form, to edit it or to start a new one from it.

`NoticeForm.request` turns the form into a rule, a template and a recurrence; this goes
the other way. What the form could have made is shown as its choices again; a rule it
could not have made (one written through the API) is kept whole, unseen, so saving the
form does not quietly drop a condition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from broadcaster.broadcasts import Broadcast
from broadcaster.console.notice_form import VARIANTS, WEEKDAY_CODES, NoticeForm
from broadcaster.console.notice_template import split_template
from broadcaster.policies import hold
from broadcaster.settings import Settings


def form_of(broadcast: Broadcast, settings: Settings, *, copy: bool = False) -> NoticeForm:
    """The form that would make `broadcast` (to edit it, or, with `copy`, to start a new
    one from it: no send time, a new title)."""
    japanese, variants = split_template(broadcast.template_text)
    form = NoticeForm(
        title=f"{broadcast.title}（複製）" if copy else broadcast.title,
        category=broadcast.category,
        text=japanese,
        variants={lang: body for lang, body in variants.items() if lang in VARIANTS},
        segment_id=str(broadcast.segment_id or ""),
    )
    readable = broadcast.segment_id is not None or not broadcast.rule
    if not readable and not _fill_targets(form, broadcast.rule, settings):
        form.kept_rule = json.dumps(broadcast.rule, ensure_ascii=False)
    held = hold()
    form.digest = held is not None and held.is_marked(broadcast)
    if not copy:
        local = broadcast.send_at.astimezone(settings.tz)
        form.send_at = f"{local:%Y-%m-%dT%H:%M}"
        _fill_repeat(form, broadcast.recurrence)
    return form


def _fill_targets(form: NoticeForm, rule: Mapping[str, Any], settings: Settings) -> bool:
    """Set the form's choices from a rule; False when the rule is not one the form makes."""
    conditions = rule.get("all", [rule]) if "not" not in rule and "any" not in rule else None
    if not isinstance(conditions, list):
        return False
    flags = set(settings.residents.household_flags)
    for condition in conditions:
        if not isinstance(condition, dict) or "field" not in condition:
            return False
        name, op, value = condition["field"], condition["op"], condition.get("value")
        many = value if isinstance(value, list) else [value]
        if name == "district" and op in ("in", "eq"):
            form.districts = [str(v) for v in many]
        elif name == "garbage_zone" and op in ("in", "eq"):
            form.zones = [str(v) for v in many]
        elif name == "language" and op in ("in", "eq"):
            form.languages = [str(v) for v in many]
        elif name == "interests" and op == "contains_any":
            form.interests = [str(v) for v in many]
        elif name == "interests" and op == "contains":
            form.interests.append(str(value))
            form.interests_mode = "all"
        elif name == "age" and op == "between":
            form.age_min, form.age_max = str(many[0]), str(many[1])
        elif name == "age" and op == "gte":
            form.age_min = str(value)
        elif name == "age" and op == "lte":
            form.age_max = str(value)
        elif name in flags and op == "eq" and isinstance(value, bool):
            form.flags[name] = "yes" if value else "no"
        else:
            return False
    return True


_EXPRESSION = re.compile(r"\A(\d+) (\d+) (\S+) \* (\S+)\Z")


def _fill_repeat(form: NoticeForm, recurrence: str | None) -> None:
    match = _EXPRESSION.match(recurrence or "")
    if match is None:
        return
    day, weekday = match[3], match[4]
    if day == "*" and weekday == "*":
        form.repeat = "daily"
    elif day == "*" and weekday == "mon-fri":
        form.repeat = "weekdays"
    elif day == "*" and weekday in WEEKDAY_CODES:
        form.repeat, form.repeat_weekday = "weekly", weekday
    elif day == "*" and "#" in weekday:
        form.repeat = "monthly_nth"
        form.repeat_weekday, _, form.repeat_nth = weekday.partition("#")
    elif day.isdigit() and weekday == "*":
        form.repeat, form.repeat_day = "monthly_day", day
