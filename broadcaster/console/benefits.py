"""`/console/benefits`: benefit programs (給付・手当), who is eligible, who has been told,
and notifying the rest, after a confirmation page that says how many will be told.

A program is created by the API's create route (POST /api/v1/benefits) with the signed-in
person's `Actor`, so its rule and notice are checked the same way. Counts are
`notices.counts` and notifying is `notices.notify_and_send`, what
GET/POST /api/v1/benefits/... call: quiet hours, opt-outs and the once-per-resident
promise hold the same here. A department sees its own programs (an admin all; another
department's program is the 404 page).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from broadcaster.api import benefits as api
from broadcaster.api.deps import SessionDep, SettingsDep, get_renderer
from broadcaster.auth import Actor
from broadcaster.benefits import notices
from broadcaster.benefits.models import BenefitProgram
from broadcaster.clock import utcnow
from broadcaster.console.api_calls import attempt, refusal_of
from broadcaster.console.web import Staff, redirect, refusal, render, require_csrf, requires
from broadcaster.departments import Department, Role
from broadcaster.errors import DomainError
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
BenefitStaff = Annotated[Staff, Depends(requires(Role.department, Role.admin))]
PAGE = 50
# Where a refusal of the create route is shown: the conditions, whatever rule path.
FIELD_CODES = {"rule": "console.benefits.rule"}


@dataclass
class ProgramForm:
    """The new-program form as typed (shown again after a refusal). The target is every
    chosen household flag (verified by staff) and, if any are chosen, the districts."""

    name: str = ""
    flags: list[str] = field(default_factory=list)
    districts: list[str] = field(default_factory=list)
    details: str = ""
    how_to_apply: str = ""
    contact: str = ""
    amount: str = ""
    deadline: str = ""

    @classmethod
    def read(cls, form: FormData) -> ProgramForm:
        def one(name: str) -> str:
            return str(form.get(name, "")).strip()

        return cls(
            name=one("name"),
            flags=[str(f) for f in form.getlist("flags")],
            districts=[str(d) for d in form.getlist("districts")],
            details=one("details"),
            how_to_apply=one("how_to_apply"),
            contact=one("contact"),
            amount=one("amount").replace(",", ""),
            deadline=one("deadline"),
        )

    def body(self) -> dict[str, Any]:
        """The API's request body, for its model to validate."""
        conditions: list[dict[str, Any]] = [
            {"field": flag, "op": "eq", "value": True} for flag in self.flags
        ]
        if self.districts:
            conditions.append({"field": "district", "op": "in", "value": self.districts})
        parameters: dict[str, Any] = {
            k: v
            for k, v in (
                ("details", self.details),
                ("how_to_apply", self.how_to_apply),
                ("contact", self.contact),
            )
            if v
        }
        if self.amount:
            parameters["amount"] = int(self.amount) if self.amount.isdigit() else self.amount
        return {
            "name": self.name,
            # No condition is no rule the form can make: the rule check refuses it.
            "rule": {"all": conditions} if conditions else {},
            "parameters": parameters,
            "deadline": self.deadline or None,
        }


def _program(session: Session, program_id: int, actor: Actor) -> BenefitProgram:
    program = session.get(BenefitProgram, program_id)
    if program is None or not actor.may_see(program.department_id):
        raise HTTPException(404)
    return program


def _counts(session: Session, program: BenefitProgram, settings: Settings) -> dict[str, int]:
    return notices.counts(session, program, settings, utcnow().astimezone(settings.tz).date())


@router.get("/console/benefits", response_class=HTMLResponse)
def programs(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: BenefitStaff,
    page: int = 1,
) -> Response:
    query = (
        select(BenefitProgram, Department.name)
        .join(Department, col(Department.id) == BenefitProgram.department_id)
        .order_by(col(BenefitProgram.id).desc())
    )
    if staff.role != Role.admin:
        query = query.where(BenefitProgram.department_id == staff.actor.department_id)
    page = max(page, 1)
    rows = session.exec(query.offset((page - 1) * PAGE).limit(PAGE + 1)).all()
    return render(
        request,
        "benefits.html",
        staff,
        rows=[(p, d, _counts(session, p, settings)) for p, d in rows[:PAGE]],
        page=page,
        more=len(rows) > PAGE,
    )


def _new_page(
    request: Request,
    staff: Staff,
    settings: Settings,
    form: ProgramForm,
    refused: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "benefit_new.html",
        staff,
        status_code=status_code,
        form=form,
        refusal=refused,
        flags=settings.residents.household_flags,
        districts=settings.residents.districts,
    )


@router.get("/console/benefits/new", response_class=HTMLResponse)
def new_page(request: Request, settings: SettingsDep, staff: BenefitStaff) -> Response:
    return _new_page(request, staff, settings, ProgramForm())


@router.post("/console/benefits/new", response_class=HTMLResponse)
async def create(
    request: Request, session: SessionDep, settings: SettingsDep, staff: BenefitStaff
) -> Response:
    """The API's create route: a refusal is shown beside its field, nothing written."""
    form = ProgramForm.read(await request.form())
    result = attempt(
        session,
        lambda: api.create_program(
            api.ProgramIn.model_validate(form.body()), request, session, settings, staff.actor
        ),
        FIELD_CODES,
    )
    refused = refusal_of(result)
    if refused is not None:
        return _new_page(request, staff, settings, form, refused, 422)
    assert isinstance(result, dict)
    return redirect(f"/console/benefits/{result['id']}?created=1")


def _detail(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Staff,
    program: BenefitProgram,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    department = session.get(Department, program.department_id)
    return render(
        request,
        template,
        staff,
        status_code=status_code,
        program=program,
        department=department.name if department else "",
        counts=_counts(session, program, settings),
        rule=json.dumps(program.rule, ensure_ascii=False, indent=1),
        **context,
    )


@router.get("/console/benefits/{program_id}", response_class=HTMLResponse)
def program_page(
    request: Request,
    program_id: int,
    session: SessionDep,
    settings: SettingsDep,
    staff: BenefitStaff,
    notified: int | None = None,
    created: int | None = None,
) -> Response:
    program = _program(session, program_id, staff.actor)
    return _detail(
        request,
        session,
        settings,
        staff,
        program,
        "benefit.html",
        notified=notified,
        created=created,
    )


@router.get("/console/benefits/{program_id}/notify", response_class=HTMLResponse)
def confirm_page(
    request: Request,
    program_id: int,
    session: SessionDep,
    settings: SettingsDep,
    staff: BenefitStaff,
) -> Response:
    program = _program(session, program_id, staff.actor)
    return _detail(request, session, settings, staff, program, "benefit_notify.html", refusal=None)


@router.post("/console/benefits/{program_id}/notify", response_class=HTMLResponse)
def notify(
    request: Request,
    program_id: int,
    session: SessionDep,
    settings: SettingsDep,
    staff: BenefitStaff,
) -> Response:
    program = _program(session, program_id, staff.actor)
    try:
        run = notices.notify_and_send(
            session,
            program,
            staff.actor.label,
            staff.actor.department_id,
            settings,
            get_renderer(request),
            utcnow(),
        )
    except DomainError as exc:  # quiet hours, a template problem, a concurrent notify
        session.rollback()
        return _detail(
            request,
            session,
            settings,
            staff,
            program,
            "benefit_notify.html",
            status_code=exc.kind.status,
            refusal=refusal(exc),
        )
    return redirect(f"/console/benefits/{program_id}?notified={run.notified}")
