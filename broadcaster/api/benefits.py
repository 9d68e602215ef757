"""`/api/v1/benefits`: benefit programs and their push-type notices.

A department sees and notifies its own programs (admins all; another department's program
is 404). The notified-residents CSV is admin-only: it carries full LINE user ids, which the
city needs to reconcile with its own records; they never appear in logs or URLs, the
export is audited and marked not to be cached.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from broadcaster import audit
from broadcaster.api.deps import SessionDep, SettingsDep, get_renderer
from broadcaster.auth import Actor, AdminActor, CurrentActor
from broadcaster.benefits import notices
from broadcaster.benefits.models import BenefitProgram
from broadcaster.clock import utcnow
from broadcaster.errors import Conflict, Refused, not_found, refused_at
from broadcaster.inputs import Id
from broadcaster.render import TemplateError
from broadcaster.settings import Settings
from broadcaster.timestamps import CityTimestamp
from segments.fields import FieldCatalog
from segments.rule_parser import parse_rule
from segments.rules import rule_to_json

router = APIRouter(prefix="/benefits", tags=["benefits"])


class ProgramIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    rule: dict[str, Any] = Field(description="segments rule over verified attributes")
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="benefit_notice template values: details, how_to_apply, contact, amount",
    )
    deadline: date | None = None


class ProgramPublic(BaseModel):
    id: int
    name: str
    rule: dict[str, Any]
    parameters: dict[str, Any]
    deadline: date | None
    department_id: int
    created_by: str
    created_at: CityTimestamp
    updated_at: CityTimestamp


class ProgramList(BaseModel):
    programs: list[ProgramPublic]


class ProgramCounts(BaseModel):
    eligible: int = Field(description="by verified attributes, whatever the follow state")
    notified: int
    pending: int = Field(description="eligible, reachable and not yet told")
    not_reachable: int = Field(description="eligible but blocked or opted out")


class ProgramWithCounts(ProgramPublic):
    counts: ProgramCounts


class Notified(BaseModel):
    program_id: int
    notified: int
    broadcast_id: int | None
    batches: int
    resumed: int = Field(description="unfinished notices of earlier runs sent on")


def program_public(program: BenefitProgram) -> dict[str, Any]:
    """The program as JSON (what the audit log keeps)."""
    return program.model_dump(mode="json")


def _out(program: BenefitProgram) -> ProgramPublic:
    return ProgramPublic.model_validate(program.model_dump())


def _program(session: Session, program_id: Id, actor: Actor) -> BenefitProgram:
    program = session.get(BenefitProgram, program_id)
    if program is None or not actor.may_see(program.department_id):
        raise not_found("benefit_program", program_id)
    return program


def _check_rule(rule: dict[str, Any], settings: Settings) -> dict[str, Any]:
    # A RuleError is a 422 naming `rule.<path>` (broadcaster.api.refusals).
    return rule_to_json(parse_rule(rule, FieldCatalog.from_settings(settings.residents)))


@router.post("", status_code=201, summary="Create a benefit program")
def create_program(
    body: ProgramIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
) -> ProgramPublic:
    now = utcnow()
    program = BenefitProgram(
        name=body.name,
        rule=_check_rule(body.rule, settings),
        parameters=body.parameters,
        deadline=body.deadline,
        department_id=actor.department_id,
        created_by=actor.label,
        created_at=now,
        updated_at=now,
    )
    # The notice must render for every language now, not fail at notify time.
    try:
        get_renderer(request).prepare(
            template_name=notices.TEMPLATE,
            template_text=None,
            parameters=notices.template_parameters(program),
        )
    except TemplateError as exc:
        problem = exc.at("parameters")
        raise Refused("template.invalid", f"template: {exc}", errors=[problem]) from None
    except Exception as exc:
        raise refused_at("parameters", f"template: {exc}", "template.invalid") from None
    session.add(program)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("benefit_program.exists", name=body.name) from None
    audit.record(
        session,
        at=now,
        actor=actor.label,
        action="benefit.create",
        entity="benefit_program",
        entity_id=program.id,
        department_id=actor.department_id,
        after=program_public(program),
    )
    session.commit()
    return _out(program)


@router.get("", summary="Benefit programs you may see")
def list_programs(session: SessionDep, actor: CurrentActor) -> ProgramList:
    rows = session.exec(select(BenefitProgram).order_by(col(BenefitProgram.id))).all()
    return ProgramList(programs=[_out(p) for p in rows if actor.may_see(p.department_id)])


@router.get("/{program_id}", summary="A program with its counts")
def get_program(
    program_id: Id, session: SessionDep, settings: SettingsDep, actor: CurrentActor
) -> ProgramWithCounts:
    program = _program(session, program_id, actor)
    on = utcnow().astimezone(settings.tz).date()
    counts = ProgramCounts(**notices.counts(session, program, settings, on))
    return ProgramWithCounts(**_out(program).model_dump(), counts=counts)


@router.post("/{program_id}/notify", summary="Notify eligible followers not yet notified")
def notify_program(
    program_id: Id,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
) -> Notified:
    program = _program(session, program_id, actor)
    run = notices.notify_and_send(
        session,
        program,
        actor.label,
        actor.department_id,
        settings,
        get_renderer(request),
        utcnow(),
    )
    return Notified(
        program_id=program_id,
        notified=run.notified,
        broadcast_id=run.broadcast_id,
        batches=run.batches,
        resumed=run.resumed,
    )


@router.get(
    "/{program_id}/notified.csv",
    summary="Notified residents (admin only, full ids)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def export_notified(
    program_id: Id, session: SessionDep, settings: SettingsDep, actor: AdminActor
) -> Response:
    program = _program(session, program_id, actor)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=notices.EXPORT_COLUMNS)
    writer.writeheader()
    rows = 0
    for row in notices.export_rows(session, program, settings):
        writer.writerow(row)
        rows += 1
    audit.record(
        session,
        at=utcnow(),
        actor=actor.label,
        action="benefit.export",
        entity="benefit_program",
        entity_id=program.id,
        department_id=actor.department_id,
        after={"rows": rows},
    )
    session.commit()
    return Response(
        content="\ufeff" + buffer.getvalue(),  # BOM: Excel opens UTF-8 Japanese correctly
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="benefit-{program_id}-notified.csv"',
            "Cache-Control": "no-store",
        },
    )
