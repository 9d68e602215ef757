"""Surveys: a 5-point question, its results, and the built-in ones the KPIs read.

A residents' survey is a broadcast (through `create_broadcast`, the one path every send
takes) whose template prints the question with five quick-reply postbacks
(`action=survey&s=<id>&v=<1-5>`); answers arrive through the webhook (see `answers`).
A staff survey has no broadcast: each staff member gets a one-time link (staff accounts do
not exist yet), stored as a digest like API tokens.

Results are counts, the distribution and the average, overall and per district, each
count suppressed below the threshold (`suppression`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_requests import BroadcastRefused, BroadcastRequest
from broadcaster.clock import as_utc, local
from broadcaster.db import table_of
from broadcaster.errors import FeatureRefusal
from broadcaster.kpis.models import Survey, SurveyAnswer, SurveyAudience, SurveyToken
from broadcaster.kpis.suppression import Shown, shown, shown_average
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from segments.quick_replies import postback_data

TEMPLATE = "survey"
CATEGORY = "general"
POSTBACK_ACTION = "survey"
SCALE = (1, 2, 3, 4, 5)
SCALE_LABELS = {1: "1 不満", 2: "2 やや不満", 3: "3 ふつう", 4: "4 やや満足", 5: "5 満足"}
NO_DISTRICT = "(未設定)"


@dataclass(frozen=True, slots=True)
class BuiltIn:
    title: str
    question: str
    audience: SurveyAudience
    followup: str | None


# The satisfaction figures cities set targets for (Masuda's 行政情報等の配信に関する利用者
# 満足度, Tomamae's service satisfaction, Masuda's staff survey).
BUILT_IN: Mapping[str, BuiltIn] = {
    "delivery_satisfaction": BuiltIn(
        "配信満足度",
        "市からのLINEのお知らせ（内容・回数・分かりやすさ）に、どのくらい満足していますか。",
        SurveyAudience.residents,
        "ご不満な点やご意見があれば、このトークにそのまま送ってください（任意）。",
    ),
    "service_satisfaction": BuiltIn(
        "サービス満足度",
        "LINEで受けられる市のサービス（ごみ出し案内・防災情報・各種お知らせ）に、"
        "どのくらい満足していますか。",
        SurveyAudience.residents,
        "ご意見があれば、このトークにそのまま送ってください（任意）。",
    ),
    "staff_satisfaction": BuiltIn(
        "職員満足度",
        "LINEによる情報配信の仕組み（配信の作成・予約・効果の確認）に、どのくらい満足していますか。",
        SurveyAudience.staff,
        "改善してほしい点があればお書きください（任意）。",
    ),
}


class SurveyRefused(FeatureRefusal, ValueError):
    """The survey cannot be created as asked; `path` names what to fix."""


@dataclass(frozen=True, slots=True)
class SurveyRequest:
    closes_at: datetime
    kpi: str | None = None
    title: str | None = None
    question: str | None = None
    followup: str | None = None
    audience: SurveyAudience | None = None
    rule: Mapping[str, Any] | None = None
    segment_id: int | None = None
    send_at: datetime | None = None


def choices(survey_id: int) -> list[dict[str, str]]:
    """The five quick-reply buttons (label and postback data) of a survey."""
    return [
        {"label": SCALE_LABELS[v], "data": postback_data(action=POSTBACK_ACTION, s=survey_id, v=v)}
        for v in SCALE
    ]


def _resolved(request: SurveyRequest) -> tuple[str, str, SurveyAudience, str | None]:
    if request.kpi is not None:
        built_in = BUILT_IN.get(request.kpi)
        if built_in is None:
            raise SurveyRefused(
                f"unknown KPI survey {request.kpi!r}; one of {', '.join(BUILT_IN)}",
                "survey.unknown_kpi",
                path="kpi",
                kpi=request.kpi,
                known=", ".join(BUILT_IN),
            )
        return (
            request.title or built_in.title,
            request.question or built_in.question,
            built_in.audience,
            request.followup if request.followup is not None else built_in.followup,
        )
    if not request.title or not request.question:
        raise SurveyRefused(
            "a survey needs a title and a question (or a kpi)", "survey.no_question",
            path="question",
        )
    return request.title, request.question, request.audience or SurveyAudience.residents, (
        request.followup or None
    )


def create_survey(
    session: Session,
    actor_label: str,
    department_id: int,
    request: SurveyRequest,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> Survey:
    """Add the survey and, for residents, its broadcast (flushed, not committed).

    Raises SurveyRefused, or BroadcastRefused for what the broadcast checks refuse
    (rule, send time, quiet hours, LINE's limits); nothing is stored then."""
    title, question, audience, followup = _resolved(request)
    opens_at = _aware(request.send_at, settings.tz) if request.send_at else now
    closes_at = _aware(request.closes_at, settings.tz)
    if closes_at <= max(opens_at, now):
        raise SurveyRefused(
            "closes_at must be after the survey is sent", "survey.closes_too_early",
            path="closes_at",
        )
    survey = Survey(
        kpi=request.kpi,
        department_id=department_id,
        audience=audience,
        title=title,
        question=question,
        followup=followup,
        opens_at=opens_at,
        closes_at=closes_at,
        created_by=actor_label,
        created_at=now,
    )
    with session.begin_nested():
        session.add(survey)
        session.flush()
        assert survey.id is not None
        if audience == SurveyAudience.residents:
            broadcast = create_broadcast(
                session,
                actor_label,
                department_id,
                BroadcastRequest(
                    title=f"アンケート: {title}",
                    category=CATEGORY,
                    template_name=TEMPLATE,
                    parameters={
                        "title": title,
                        "question": question,
                        "choices": choices(survey.id),
                        "closes_label": local(closes_at, settings.tz).strftime("%-m月%-d日 %H:%M"),
                    },
                    rule=request.rule,
                    segment_id=request.segment_id,
                    send_at=request.send_at,
                    source={"survey_id": survey.id},
                ),
                settings,
                renderer,
                now,
            )
            survey.broadcast_id = broadcast.id
            survey.opens_at = broadcast.send_at
            session.add(survey)
            session.flush()
    return survey


def _aware(value: datetime, tz: tzinfo) -> datetime:
    """A naive time is the city's local time, as everywhere in the API."""
    return as_utc(value if value.tzinfo else value.replace(tzinfo=tz))


def is_open(survey: Survey, now: datetime) -> bool:
    return as_utc(survey.opens_at) <= now < as_utc(survey.closes_at)


def close_survey(session: Session, survey: Survey, now: datetime) -> bool:
    """Close now; False if it had already closed."""
    if as_utc(survey.closes_at) <= now:
        return False
    survey.closes_at = now
    session.add(survey)
    session.flush()
    return True


def issue_tokens(session: Session, survey: Survey, count: int, now: datetime) -> list[str]:
    """`count` one-time answer links' secrets for a staff survey (shown once)."""
    if survey.audience != SurveyAudience.staff:
        raise SurveyRefused(
            "one-time links are for staff surveys", "survey.links_for_staff", path="audience"
        )
    if not 1 <= count <= 1000:
        raise SurveyRefused(
            "count must be between 1 and 1000", "survey.link_count", path="count", max=1000
        )
    assert survey.id is not None
    out = []
    for _ in range(count):
        secret = secrets.token_urlsafe(24)
        session.add(SurveyToken(survey_id=survey.id, token_hash=token_hash(secret), created_at=now))
        out.append(secret)
    session.flush()
    return out


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def find_token(session: Session, secret: str) -> SurveyToken | None:
    query = select(SurveyToken).where(SurveyToken.token_hash == token_hash(secret))
    return session.exec(query).first()


# -- results ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    counts: list[int]

    @classmethod
    def empty(cls) -> Tally:
        return cls([0] * len(SCALE))

    def add(self, score: int) -> None:
        self.counts[score - 1] += 1

    def merge(self, other: Tally) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]

    @property
    def answers(self) -> int:
        return sum(self.counts)

    @property
    def total(self) -> int:
        return sum(score * n for score, n in zip(SCALE, self.counts, strict=True))

    def shown(self, threshold: int) -> dict[str, Any]:
        respondents: Shown = shown(self.answers, threshold)
        return {
            "respondents": respondents,
            "distribution": {
                str(s): shown(n, threshold) for s, n in zip(SCALE, self.counts, strict=True)
            },
            "average": shown_average(self.total, self.answers, threshold),
        }


def tallies(session: Session, survey_ids: Sequence[int]) -> tuple[Tally, dict[str, Tally], int]:
    """The answers to these surveys: overall, per district, and how many left a comment."""
    answer = table_of(SurveyAnswer)
    overall = Tally.empty()
    by_district: dict[str, Tally] = defaultdict(Tally.empty)
    comments = 0
    if not survey_ids:
        return overall, {}, 0
    rows = session.connection().execute(
        sa.select(answer.c.score, answer.c.district, answer.c.comment).where(
            answer.c.survey_id.in_(list(survey_ids))
        )
    )
    for score, district, comment in rows:
        overall.add(score)
        by_district[district or NO_DISTRICT].add(score)
        comments += 1 if comment else 0
    return overall, dict(sorted(by_district.items())), comments


def results(session: Session, survey: Survey, threshold: int, now: datetime) -> dict[str, Any]:
    assert survey.id is not None
    overall, by_district, comments = tallies(session, [survey.id])
    return {
        "survey_id": survey.id,
        "kpi": survey.kpi,
        "title": survey.title,
        "question": survey.question,
        "audience": survey.audience,
        "open": is_open(survey, now),
        **overall.shown(threshold),
        "comments": shown(comments, threshold),
        "by_district": {d: t.shown(threshold) for d, t in by_district.items()},
    }


def comments(session: Session, survey_id: int) -> list[str]:
    """The free-text comments, newest first, without who wrote them."""
    rows = session.exec(
        select(SurveyAnswer.comment)
        .where(SurveyAnswer.survey_id == survey_id, col(SurveyAnswer.comment).is_not(None))
        .order_by(col(SurveyAnswer.answered_at).desc())
    ).all()
    return [c for c in rows if c]


def surveys_for(session: Session, kpi: str, start: datetime, end: datetime) -> list[Survey]:
    """The KPI's surveys opened in [start, end)."""
    return list(
        session.exec(
            select(Survey).where(
                Survey.kpi == kpi, col(Survey.opens_at) >= start, col(Survey.opens_at) < end
            )
        ).all()
    )


__all__ = ["BroadcastRefused", "SurveyRefused", "create_survey"]
