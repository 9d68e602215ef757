"""`/api/v1/residents`: counts for staff and the admin's import of verified attributes.

No route returns or takes a full LINE user id: imports report masked ids only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, UploadFile, status
from pydantic import BaseModel

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.audit import record
from broadcaster.auth import AdminActor, CurrentActor
from broadcaster.clock import local, utcnow
from segments.importer import ImportRejected, apply_import, decode, plan_import
from segments.preview import resident_stats

router = APIRouter(prefix="/residents", tags=["residents"])

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class StatsOut(BaseModel):
    following: int
    blocked: int
    by_district: dict[str, int]
    by_language: dict[str, int]


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
) -> dict[str, Any]:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "file over 20 MB; split it")
    now = utcnow()
    try:
        plan = plan_import(
            session, decode(data), settings.residents, today=local(now, settings.tz).date()
        )
    except ImportRejected as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            {
                "message": "the file has bad rows; nothing was applied",
                "errors": [
                    {"line": e.line, "column": e.column, "message": e.message} for e in exc.errors
                ],
            },
        ) from None
    body = {"dry_run": dry_run, **plan.as_json()}
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
        after={"file": file.filename, "rows": len(plan.rows), "residents_changed": plan.changed},
    )
    session.commit()
    return body
