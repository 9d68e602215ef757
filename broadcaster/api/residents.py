"""`/api/v1/residents`: counts for staff and the admin's import of verified attributes.

No route returns or takes a full LINE user id: imports report masked ids only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, UploadFile
from pydantic import BaseModel, Field
from sqlmodel import Session

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.api.refusals import as_domain_error
from broadcaster.audit import record
from broadcaster.auth import Actor, AdminActor, CurrentActor
from broadcaster.clock import local, utcnow
from broadcaster.errors import DomainError, TooLarge
from broadcaster.offload import off_loop
from broadcaster.settings import Settings
from segments.importer import ImportRejected, apply_import, decode, plan_import
from segments.preview import resident_stats

router = APIRouter(prefix="/residents", tags=["residents"])


class StatsOut(BaseModel):
    following: int
    blocked: int
    by_district: dict[str, int]
    by_language: dict[str, int]


class FieldChange(BaseModel):
    field: str
    old: Any
    new: Any


class RowChanges(BaseModel):
    line: int
    user: str = Field(description="masked LINE user id")
    changes: list[FieldChange]


class ResidentsImported(BaseModel):
    dry_run: bool
    rows: int
    residents_changed: int
    changes: list[RowChanges]


@router.get("/stats", summary="Followers and blocks, followers by district and language")
def stats(session: SessionDep, actor: CurrentActor) -> StatsOut:
    result = resident_stats(session)
    return StatsOut(
        following=result.following,
        blocked=result.blocked,
        by_district=result.by_district,
        by_language=result.by_language,
    )


@router.post(
    "/import",
    summary="Import staff-verified attributes from CSV (admin)",
    description=(
        "Multipart upload of a CSV keyed by line_user_id (see segments/importer.py for the "
        "columns). The whole file is checked first; any bad row -> 422 listing every bad row "
        "with its line number, and nothing is applied. `dry_run=true` shows the changes only."
    ),
)
async def import_residents(
    file: UploadFile,
    session: SessionDep,
    settings: SettingsDep,
    actor: AdminActor,
    dry_run: Annotated[bool, Query(description="check and show changes, write nothing")] = False,
) -> ResidentsImported:
    limit = settings.limits.residents_csv_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge("body.too_large", limit=limit)
    # Decoding and checking a 20 MB file takes seconds: off the event loop, which the
    # sender and the webhook share. A bad row raises ImportRejected (422, every row).
    return await off_loop(_import, session, settings, actor, data, file.filename, dry_run)


def _import(
    session: Session,
    settings: Settings,
    actor: Actor,
    data: bytes,
    filename: str | None,
    dry_run: bool,
) -> ResidentsImported:
    now = utcnow()
    refusal: DomainError | None = None
    try:
        plan = plan_import(
            session, decode(data), settings.residents, today=local(now, settings.tz).date()
        )
    except ImportRejected as exc:
        # Converted here, in the worker thread, so that a file's 200,000 bad rows are
        # freed here too, not by the event loop when the exception reaches it (0.6 s).
        refusal = as_domain_error(exc)
    if refusal is not None:
        raise refusal
    body = ResidentsImported.model_validate({"dry_run": dry_run, **plan.as_json()})
    if dry_run:
        return body
    apply_import(session, plan, verified_by=actor.label, now=now)
    record(
        session,
        at=now,
        actor=actor.label,
        action="residents.import",
        entity="resident_import",
        department_id=actor.department_id,
        after={"file": filename, "rows": len(plan.rows), "residents_changed": plan.changed},
    )
    session.commit()
    return body
