"""`/api/v1/segments`: saved, versioned rules per department, and previews of who they reach.

A department sees only its own segments (another's is a 404, as for broadcasts); an admin
sees all. A bad rule is a 422 whose detail names the bad part (`all[1].value[0]`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, status
from pydantic import BaseModel, Field

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.audit import record
from broadcaster.auth import Actor, CurrentActor
from broadcaster.clock import local, utcnow
from broadcaster.departments import Role
from broadcaster.errors import Conflict, FieldError, Forbidden, NotFound, Refused, not_found
from broadcaster.inputs import Id
from broadcaster.settings import Settings
from broadcaster.timestamps import CityTimestamp
from segments.fields import FieldCatalog, catalog_json
from segments.preview import preview
from segments.rule_errors import RuleError
from segments.rule_parser import parse_rule
from segments.rules import Rule
from segments.saved import (
    Segment,
    SegmentError,
    SegmentVersion,
    create_segment,
    current_version,
    get_version,
    update_segment,
    versions,
    visible_segments,
)

router = APIRouter(prefix="/segments", tags=["segments"])

EXAMPLE_RULE: dict[str, Any] = {
    "all": [
        {"field": "district", "op": "in", "value": ["中央", "北"]},
        {"field": "interests", "op": "contains", "value": "防災"},
        {"field": "age", "op": "gte", "value": 65},
    ]
}
RULE_EXAMPLES = {
    "seniors": {
        "summary": "防災に関心のある中央・北の65歳以上",
        "value": {"name": "高齢者・防災", "rule": EXAMPLE_RULE},
    },
    "families": {
        "summary": "子育て世帯 (verified), any district but 山間",
        "value": {
            "name": "子育て世帯",
            "rule": {
                "all": [
                    {"field": "子育て世帯", "op": "eq", "value": True},
                    {"not": {"field": "district", "op": "eq", "value": "山間"}},
                ]
            },
        },
    },
}


class SegmentCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=1000)
    rule: dict[str, Any]
    # Admins may create a segment for another department; others always get their own.
    department_id: Id | None = None


class SegmentUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    description: str | None = Field(default=None, max_length=1000)
    rule: dict[str, Any] | None = None


class VersionOut(BaseModel):
    version: int
    rule: dict[str, Any]
    created_at: CityTimestamp
    created_by: str


class SegmentOut(BaseModel):
    id: int
    department_id: Id
    name: str
    description: str
    current_version: int
    rule: dict[str, Any]
    created_at: CityTimestamp
    updated_at: CityTimestamp
    versions: list[VersionOut] | None = None


class PreviewRequest(BaseModel):
    rule: dict[str, Any] | None = None
    segment_id: Id | None = None
    version: Id | None = None
    category: str | None = None
    on: dt.date | None = Field(default=None, description="send date for ages (default: today, JST)")


class SampleOut(BaseModel):
    user: str = Field(description="masked LINE user id")
    district: str | None
    language: str
    age: int | None


class PreviewOut(BaseModel):
    count: int
    by_district: dict[str, int]
    by_language: dict[str, int]
    samples: list[SampleOut]
    on: dt.date


def _catalog(settings: Settings) -> FieldCatalog:
    return FieldCatalog.from_settings(settings.residents)


def _parse(raw: dict[str, Any], settings: Settings, prefix: str = "rule") -> Rule:
    try:
        return parse_rule(raw, _catalog(settings))
    except RuleError as exc:
        path = f"{prefix}.{exc.path}" if exc.path else prefix
        raise Refused("rule.invalid", f"{path}: {exc.message}", errors=[exc.at(path)]) from None


def _visible(session: SessionDep, actor: Actor, segment_id: Id) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None or not actor.may_see(segment.department_id):
        raise not_found("segment", segment_id)
    return segment


def _out(
    segment: Segment, current: SegmentVersion, history: list[SegmentVersion] | None = None
) -> SegmentOut:
    assert segment.id is not None
    return SegmentOut(
        id=segment.id,
        department_id=segment.department_id,
        name=segment.name,
        description=segment.description,
        current_version=segment.current_version,
        rule=current.rule,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
        versions=None
        if history is None
        else [
            VersionOut(
                version=v.version, rule=v.rule, created_at=v.created_at, created_by=v.created_by
            )
            for v in history
        ],
    )


@router.get("/fields", summary="The fields, operators and choices a rule may use")
def fields(settings: SettingsDep, actor: CurrentActor) -> list[dict[str, Any]]:
    return catalog_json(_catalog(settings))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Save a new segment (version 1)")
def create(
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
    body: Annotated[SegmentCreate, Body(openapi_examples=RULE_EXAMPLES)],
) -> SegmentOut:
    rule = _parse(body.rule, settings)
    department_id = actor.department_id
    if body.department_id is not None and body.department_id != actor.department_id:
        if actor.role != Role.admin:
            raise Forbidden("segment.other_department")
        department_id = body.department_id
    now = utcnow()
    try:
        segment, version = create_segment(
            session,
            department_id=department_id,
            name=body.name,
            rule=rule,
            actor=actor.label,
            now=now,
            description=body.description,
        )
    except SegmentError as exc:
        raise Conflict("segment.conflict", str(exc)) from None
    record(
        session,
        at=now,
        actor=actor.label,
        action="segment.create",
        entity="segment",
        entity_id=segment.id,
        department_id=department_id,
        after={"name": segment.name, "version": 1, "rule": version.rule},
    )
    session.commit()
    return _out(segment, version)


@router.get("", summary="Segments of your department (all, for an admin)")
def list_segments(session: SessionDep, actor: CurrentActor) -> list[SegmentOut]:
    department = None if actor.role == Role.admin else actor.department_id
    out = []
    for segment in visible_segments(session, department):
        assert segment.id is not None
        current = current_version(session, segment.id)
        assert current is not None
        out.append(_out(segment, current))
    return out


@router.get("/{segment_id}", summary="A segment with all its versions, newest first")
def get_segment(segment_id: Id, session: SessionDep, actor: CurrentActor) -> SegmentOut:
    segment = _visible(session, actor, segment_id)
    history = versions(session, segment_id)
    return _out(segment, history[0], history)


@router.patch("/{segment_id}", summary="Rename, or save a new rule as the next version")
def update(
    segment_id: Id,
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
    body: Annotated[
        SegmentUpdate,
        Body(
            openapi_examples={
                "new rule": {
                    "summary": "A new version of the rule",
                    "value": {"rule": EXAMPLE_RULE},
                },
                "rename": {"summary": "Only a new name", "value": {"name": "高齢者 (防災)"}},
            }
        ),
    ],
) -> SegmentOut:
    segment = _visible(session, actor, segment_id)
    rule = None if body.rule is None else _parse(body.rule, settings)
    before = current_version(session, segment_id)
    assert before is not None
    before_state = {"name": segment.name, "version": before.version, "rule": before.rule}
    now = utcnow()
    try:
        added = update_segment(
            session,
            segment,
            actor=actor.label,
            now=now,
            rule=rule,
            name=body.name,
            description=body.description,
        )
    except SegmentError as exc:
        raise Conflict("segment.conflict", str(exc)) from None
    current = added or before
    record(
        session,
        at=now,
        actor=actor.label,
        action="segment.update",
        entity="segment",
        entity_id=segment_id,
        department_id=segment.department_id,
        before=before_state,
        after={"name": segment.name, "version": current.version, "rule": current.rule},
    )
    session.commit()
    return _out(segment, current, versions(session, segment_id))


@router.post("/preview", summary="How many followers a rule or saved segment reaches now")
def preview_segment(
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
    body: Annotated[
        PreviewRequest,
        Body(
            openapi_examples={
                "rule": {
                    "summary": "An unsaved rule",
                    "value": {"rule": EXAMPLE_RULE, "category": "general"},
                },
                "saved": {
                    "summary": "A saved segment (current version)",
                    "value": {"segment_id": 1},
                },
            }
        ),
    ],
) -> PreviewOut:
    if (body.rule is None) == (body.segment_id is None):
        raise Refused(
            "segment.rule_or_segment",
            errors=[FieldError("rule", code="segment.rule_or_segment")],
        )
    if body.category is not None and body.category not in settings.residents.categories:
        known = ", ".join(settings.residents.categories)
        raise Refused(
            "category.unknown",
            errors=[FieldError("category", code="category.unknown", params={"known": known})],
            known=known,
        )
    if body.segment_id is not None:
        _visible(session, actor, body.segment_id)
        chosen = (
            current_version(session, body.segment_id)
            if body.version is None
            else get_version(session, body.segment_id, body.version)
        )
        if chosen is None:
            raise NotFound("not_found.segment_version", ident=body.segment_id, version=body.version)
        rule = _parse(chosen.rule, settings, prefix=f"segment {body.segment_id} v{chosen.version}")
    else:
        assert body.rule is not None
        rule = _parse(body.rule, settings)
    on = body.on or local(utcnow(), settings.tz).date()
    result = preview(session, rule, on=on, category=body.category)
    return PreviewOut(
        count=result.count,
        by_district=result.by_district,
        by_language=result.by_language,
        samples=[
            SampleOut(user=s.user, district=s.district, language=s.language, age=s.age)
            for s in result.samples
        ],
        on=on,
    )
