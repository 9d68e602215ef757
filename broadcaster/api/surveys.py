"""`/api/v1/surveys`: create and send a survey, read its results, close it, and issue
one-time links for a staff survey; `/surveys/answer/{token}` is the staff answer page.

A residents' survey is sent as a broadcast (through `create_broadcast`, so its rule, time
and LINE limits are checked like any other); its answers arrive by postback through the
webhook (`broadcaster.kpis.answers`, registered when this module is imported). A
department sees only its own surveys; an admin sees all and creates the KPI surveys.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlmodel import col, select

from broadcaster.api.deps import RendererDep, SessionDep, SettingsDep
from broadcaster.auth import Actor, CurrentActor
from broadcaster.clock import utcnow
from broadcaster.departments import Role
from broadcaster.errors import Conflict, Forbidden, not_found
from broadcaster.inputs import Id
from broadcaster.kpis import answers, surveys
from broadcaster.kpis.models import Survey, SurveyAudience
from broadcaster.kpis.suppression import Shown
from broadcaster.timestamps import CityTimestamp

answers.register()

router = APIRouter(prefix="/surveys", tags=["surveys"])
page_router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "console" / "templates")


class SurveyCreate(BaseModel):
    kpi: str | None = Field(
        default=None,
        description="A built-in KPI survey: delivery_satisfaction (配信満足度), "
        "service_satisfaction (サービス満足度), staff_satisfaction (職員満足度, answered by link)",
    )
    title: str | None = Field(default=None, max_length=100)
    question: str | None = Field(default=None, max_length=500)
    followup: str | None = Field(default=None, max_length=500,
                                 description="Asked after a score; the next text is the comment")
    audience: SurveyAudience | None = None
    rule: dict[str, Any] | None = Field(default=None, description="Who is asked (default: all)")
    segment_id: int | None = None
    send_at: datetime | None = Field(
        default=None, description="Default: now (Asia/Tokyo if no offset)"
    )
    closes_at: datetime = Field(description="Answers are refused from then on")


class LinksCreate(BaseModel):
    count: int = Field(ge=1, le=1000)


class SurveyPublic(BaseModel):
    id: int
    kpi: str | None
    department_id: int
    audience: str
    title: str
    question: str
    followup: str | None
    broadcast_id: int | None
    opens_at: CityTimestamp
    closes_at: CityTimestamp
    created_by: str
    created_at: CityTimestamp


class Tally(BaseModel):
    """Answers on the 5-point scale; counts under the threshold are "< 20"."""

    respondents: Shown
    distribution: dict[str, Shown]
    average: float | None = Field(description="null when too few answered to show it")


class SurveyResults(Tally):
    survey_id: int
    kpi: str | None
    title: str
    question: str
    audience: str
    open: bool
    comments: Shown
    by_district: dict[str, Tally]


class SurveyWithResults(SurveyPublic):
    results: SurveyResults


class Comments(BaseModel):
    survey_id: int
    comments: list[str]


class Links(BaseModel):
    survey_id: int
    links: list[str] = Field(description="one-time answer links, shown this once")


def _public(survey: Survey) -> SurveyPublic:
    return SurveyPublic.model_validate(survey.model_dump())


def _visible(session: Any, actor: Actor, survey_id: int) -> Survey:
    survey = session.get(Survey, survey_id)
    if survey is None or not actor.may_see(survey.department_id):
        raise not_found("survey", survey_id)
    assert isinstance(survey, Survey)
    return survey


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create (and send) a survey")
def create(
    body: SurveyCreate,
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    renderer: RendererDep,
) -> SurveyPublic:
    if body.kpi is not None and actor.role != Role.admin:
        raise Forbidden("survey.kpi_admin_only")
    now = utcnow()
    request = surveys.SurveyRequest(
        closes_at=body.closes_at, kpi=body.kpi, title=body.title, question=body.question,
        followup=body.followup, audience=body.audience, rule=body.rule,
        segment_id=body.segment_id, send_at=body.send_at,
    )
    survey = surveys.create_survey(
        session, actor.label, actor.department_id, request, settings, renderer, now
    )
    session.commit()
    return _public(survey)


@router.get("", summary="List surveys")
def list_surveys(actor: CurrentActor, session: SessionDep) -> list[SurveyPublic]:
    query = select(Survey).order_by(col(Survey.id).desc())
    if actor.role != Role.admin:
        query = query.where(Survey.department_id == actor.department_id)
    return [_public(s) for s in session.exec(query).all()]


@router.get("/{survey_id}", summary="A survey's results (counts under the threshold as \"< 20\")")
def get_results(
    survey_id: Id, actor: CurrentActor, session: SessionDep, settings: SettingsDep
) -> SurveyWithResults:
    survey = _visible(session, actor, survey_id)
    found = surveys.results(session, survey, settings.kpis.suppression_threshold, utcnow())
    return SurveyWithResults(
        **_public(survey).model_dump(), results=SurveyResults.model_validate(found)
    )


@router.get("/{survey_id}/comments", summary="The free-text comments, without who wrote them")
def get_comments(survey_id: Id, actor: CurrentActor, session: SessionDep) -> Comments:
    survey = _visible(session, actor, survey_id)
    assert survey.id is not None
    return Comments(survey_id=survey.id, comments=surveys.comments(session, survey.id))


@router.post("/{survey_id}/close", summary="Close a survey now")
def close(survey_id: Id, actor: CurrentActor, session: SessionDep) -> SurveyPublic:
    survey = _visible(session, actor, survey_id)
    if not surveys.close_survey(session, survey, utcnow()):
        raise Conflict("survey.closed", ident=survey_id)
    session.commit()
    return _public(survey)


@router.post("/{survey_id}/links", status_code=status.HTTP_201_CREATED,
             summary="One-time answer links for a staff survey (shown once)")
def create_links(survey_id: Id, body: LinksCreate, actor: CurrentActor, session: SessionDep,
                 settings: SettingsDep, request: Request) -> Links:
    survey = _visible(session, actor, survey_id)
    secrets_ = surveys.issue_tokens(session, survey, body.count, utcnow())
    session.commit()
    base = settings.server.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return Links(survey_id=survey_id, links=[f"{base}/surveys/answer/{s}" for s in secrets_])


# -- the staff answer page ----------------------------------------------------------------


def _page(
    request: Request, survey: Survey | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "survey_answer.html",
        {"survey": survey, "labels": surveys.SCALE_LABELS, **context},
        status_code=status_code,
    )


@page_router.get("/surveys/answer/{token}", response_class=HTMLResponse)
def answer_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    found = surveys.find_token(session, token)
    survey = session.get(Survey, found.survey_id) if found else None
    if found is None or survey is None:
        return _page(request, None, error="このリンクは無効です。", status_code=404)
    if found.used_at is not None:
        used = "このリンクはすでに回答に使われています。"
        return _page(request, survey, error=used, status_code=409)
    if not surveys.is_open(survey, utcnow()):
        return _page(request, survey, error=answers.CLOSED_TEXT, status_code=409)
    return _page(request, survey, token=token)


@page_router.post("/surveys/answer/{token}", response_class=HTMLResponse)
def answer_submit(
    token: str,
    request: Request,
    session: SessionDep,
    score: Annotated[int, Form()],
    comment: Annotated[str, Form(max_length=1000)] = "",
) -> HTMLResponse:
    found = surveys.find_token(session, token)
    survey = session.get(Survey, found.survey_id) if found else None
    if found is None or survey is None:
        return _page(request, None, error="このリンクは無効です。", status_code=404)
    try:
        answers.answer_with_token(session, found, score, comment, utcnow())
    except answers.StaffAnswerRefused as exc:
        session.rollback()
        return _page(request, survey, error=str(exc), status_code=409, token=token)
    session.commit()
    return _page(request, survey, done=True)


