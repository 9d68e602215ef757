"""What a notice will do before it is sent: who it reaches, what they read, what it costs.

The form's live count, its preview and the confirmation step all read this, and it reads
only what the API's preview reads: `check_request` (every check a broadcast must pass),
`audience_for` (the dispatcher's own WHERE clause) and `renderer_for` (the dispatcher's
own render). Counts are aggregate SQL (GROUP BY district, language), never residents
loaded one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from broadcaster import frequency, quiet_hours
from broadcaster.broadcast_creation import unsaved
from broadcaster.broadcast_requests import BroadcastRequest, check_request
from broadcaster.broadcasts import Broadcast
from broadcaster.console.notice_template import split_template
from broadcaster.console.notice_words import language_name
from broadcaster.db import table_of
from broadcaster.errors import field_messages
from broadcaster.kpis.deliveries import quota_by_month
from broadcaster.kpis.fiscal import month_of
from broadcaster.limits import MAX_TEXT_UTF16, MessageLimitError, utf16_units
from broadcaster.planning import audience_for, renderer_for, stored_rule
from broadcaster.policies import Limit, exempt
from broadcaster.render import FALLBACK_LANGUAGE, Renderer, TemplateError
from broadcaster.settings import Settings
from segments.compiler import compile_rule
from segments.residents import FollowState, Resident

UNSET = "（未登録）"


@dataclass(frozen=True)
class Bubble:
    """One LINE message as the preview shows it."""

    kind: str  # text | location | flex | other
    text: str
    units: int = 0  # UTF-16 code units (LINE's measure), for text


@dataclass(frozen=True)
class Sample:
    """What residents of one language read."""

    language: str  # the variant's language code
    name: str
    readers: str  # who reads this variant, in words
    bubbles: list[Bubble]


@dataclass
class Look:
    recipients: int
    by_district: list[tuple[str, int]]
    by_language: list[tuple[str, int]]
    opted_out: int
    blocked: int
    over_cap: int
    samples: list[Sample]
    quota: int
    month_used: int
    month_limit: int
    warnings: list[str] = field(default_factory=list)
    limit_units: int = MAX_TEXT_UTF16


def look(
    session: Session,
    request: BroadcastRequest,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    department_id: int,
    actor_label: str,
) -> Look:
    """Raises BroadcastRefused as creating it would; stores nothing."""
    checked = check_request(session, request, settings, renderer, now)
    draft = unsaved(request, checked, department_id, actor_label, now)
    return look_at(session, draft, settings, renderer, now)


def look_at(
    session: Session,
    broadcast: Broadcast,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    light: bool = False,
) -> Look:
    """The same for a stored broadcast not yet sent (its confirmation, its page).

    `light`: only who it reaches (a panel refreshed every few seconds leaves out the
    messages, the caps and the quota, which cost more and do not change that fast)."""
    resident = table_of(Resident)
    connection = session.connection()
    audience = audience_for(broadcast, settings)
    rows = connection.execute(
        sa.select(resident.c.district, resident.c.language, sa.func.count())
        .where(audience)
        .group_by(resident.c.district, resident.c.language)
    ).all()
    districts: dict[str, int] = {}
    languages: dict[str, int] = {}
    for district, language, n in rows:
        districts[district or UNSET] = districts.get(district or UNSET, 0) + int(n)
        languages[language] = languages.get(language, 0) + int(n)
    recipients = sum(districts.values())
    order = {name: i for i, name in enumerate(settings.residents.districts)}
    by_district = sorted(districts.items(), key=lambda kv: order.get(kv[0], len(order)))
    lang_order = {code: i for i, code in enumerate(settings.residents.languages)}
    by_language = [
        (language_name(code), n)
        for code, n in sorted(languages.items(), key=lambda kv: lang_order.get(kv[0], 99))
    ]
    if light:
        return Look(recipients, by_district, by_language, 0, 0, 0, [], recipients, 0, 0)
    opted_out, blocked = _not_reached(session, broadcast, settings, recipients)
    over_cap = 0
    if not exempt(broadcast, Limit.cap):
        capped = frequency.over_cap_filter(settings.frequency, settings.tz, now)
        if capped is not None and recipients:
            over_cap = int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(resident).where(audience, capped)
                ).scalar_one()
            )
    samples = _samples(session, broadcast, renderer, settings, list(languages))
    start, end = _month(now, settings)
    used = quota_by_month(session, start, end, settings.tz).get(month_of(now, settings.tz), 0)
    result = Look(
        recipients=recipients,
        by_district=by_district,
        by_language=by_language,
        opted_out=opted_out,
        blocked=blocked,
        over_cap=over_cap,
        samples=samples,
        quota=max(recipients - over_cap, 0),
        month_used=used,
        month_limit=settings.kpis.monthly_message_limit,
    )
    result.warnings = _warnings(result, broadcast, settings)
    return result


def _not_reached(
    session: Session, broadcast: Broadcast, settings: Settings, recipients: int
) -> tuple[int, int]:
    """Residents the rule matches who will not get it: opted out of its category, and
    blocked the account (counted now: both can change before it is sent)."""
    if broadcast.recipients_of is not None:
        return 0, 0
    rule = stored_rule(broadcast, settings)
    on = broadcast.send_at.astimezone(settings.tz).date()
    matches = compile_rule(rule, on=on) if rule is not None else sa.true()
    state = col(Resident.follow_state)
    rows = session.connection().execute(
        sa.select(state, sa.func.count()).where(matches).group_by(state)
    )
    counts = {str(s): int(n) for s, n in rows}
    following = counts.get(FollowState.following, 0)
    opted_out = 0 if exempt(broadcast, Limit.opt_outs) else max(following - recipients, 0)
    return opted_out, counts.get(FollowState.blocked, 0)


def _month(now: datetime, settings: Settings) -> tuple[datetime, datetime]:
    local = now.astimezone(settings.tz)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start.replace(day=28) + (start.replace(day=28) - start.replace(day=1))).replace(day=1)
    return start, end


def _bubbles(messages: list[dict[str, Any]]) -> list[Bubble]:
    found: list[Bubble] = []
    for item in messages:
        kind = item.get("type", "other")
        if kind == "text":
            body = str(item.get("text", ""))
            found.append(Bubble("text", body, utf16_units(body)))
        elif kind == "location":
            found.append(
                Bubble("location", f"📍 {item.get('title', '')}\n{item.get('address', '')}")
            )
        elif kind == "flex":
            found.append(Bubble("flex", f"［カード］{item.get('altText', '')}"))
        else:
            found.append(Bubble("other", f"［{kind}］"))
    return found


def _samples(
    session: Session,
    broadcast: Broadcast,
    renderer: Renderer,
    settings: Settings,
    present: list[str],
) -> list[Sample]:
    """One rendering per language variant the template has, as a resident of that
    language in the audience (or, with none, of the first district) would read it."""
    try:
        fields, render = renderer_for(session, broadcast, renderer)
        prepared = renderer.prepare(
            template_name=broadcast.template_name,
            template_text=broadcast.template_text,
            parameters=broadcast.parameters,
            trial=False,
        )
    except (TemplateError, MessageLimitError) as exc:
        # A stored notice whose template no longer prepares: say so, the page still shows.
        failed = Bubble("error", f"文面を作れません：{_why(exc)}")
        return [Sample(FALLBACK_LANGUAGE, language_name(FALLBACK_LANGUAGE), "", [failed])]
    own = [lang for lang in _variant_languages(broadcast) if lang in settings.residents.languages]
    if not own:
        own = list(prepared.languages) or [FALLBACK_LANGUAGE]
    resident = table_of(Resident)
    audience = audience_for(broadcast, settings)
    samples: list[Sample] = []
    for language in own:
        row = (
            session.connection()
            .execute(
                sa.select(*[resident.c[name] for name in fields if name in resident.c])
                .where(audience, resident.c.language == language)
                .limit(1)
            )
            .first()
        )
        context: dict[str, Any] = {
            "district": settings.residents.districts[0],
            "garbage_zone": settings.residents.zones[0],
            "language": language,
            "reminder_timing": "eve",
        }
        if row is not None:
            context.update(row._mapping)
        try:
            bubbles = _bubbles(render(context))
        except (TemplateError, MessageLimitError) as exc:
            bubbles = [Bubble("error", f"この言語では文面を作れません：{_why(exc)}")]
        readers = _readers(language, own, present, settings)
        samples.append(Sample(language, language_name(language), readers, bubbles))
    return samples


def _why(exc: Exception) -> str:
    """The problem in Japanese where the catalog words it (a TemplateError), else as raised
    (LINE's limits name fields and counts)."""
    return " ".join(field_messages(exc).values()) or str(exc)


def _variant_languages(broadcast: Broadcast) -> list[str]:
    # An inline notice: the console's per-language branches, Japanese first.
    if broadcast.template_text is None:
        return []
    _, variants = split_template(broadcast.template_text)
    return [FALLBACK_LANGUAGE, *variants]


def _readers(language: str, own: list[str], present: list[str], settings: Settings) -> str:
    if language != FALLBACK_LANGUAGE:
        return f"{language_name(language)}を選んだ人"
    others = [
        language_name(code)
        for code in settings.residents.languages
        if code not in own and code != FALLBACK_LANGUAGE
    ]
    return "日本語" + (f"と、自分の言語の文面がない人（{'・'.join(others)}）" if others else "の人")


def _warnings(result: Look, broadcast: Broadcast, settings: Settings) -> list[str]:
    notes: list[str] = []
    if result.recipients == 0:
        notes.append("この条件に当てはまる人はいません。送っても誰にも届きません。")
    if result.over_cap:
        notes.append(
            f"{result.over_cap} 人は今日または今週の上限（1日{settings.frequency.max_per_day}通・"
            f"1週間{settings.frequency.max_per_week}通）に達しているため、今送ると省略されます。"
        )
    if result.opted_out:
        notes.append(f"{result.opted_out} 人はこの分類の配信を停止しているため届きません。")
    if result.blocked:
        notes.append(f"{result.blocked} 人は公式アカウントをブロックしているため届きません。")
    if settings.quiet_hours.enabled and not exempt(broadcast, Limit.quiet_hours):
        notes.append(
            f"{quiet_hours.window_label(settings.quiet_hours)} は配信しない時間帯です"
            + (
                "（繰り返しのうち、この時間帯に入る回は送られません）。"
                if broadcast.recurrence
                else "。"
            )
        )
    if result.month_limit and result.month_used + result.quota > result.month_limit:
        notes.append(
            f"今月の上限 {result.month_limit:,} 通を超えます（使用済み {result.month_used:,} 通）。"
        )
    return notes
