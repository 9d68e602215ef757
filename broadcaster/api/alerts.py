"""`/api/v1/alerts`: CAP 1.2 and JMA disaster XML in, emergency drafts out.

The body is the XML document itself. It is read with a size limit (413 beyond
`emergency.max_alert_bytes`, checked while reading, so a huge body is never held), parsed
with defusedxml (DTDs and entities refused), and never sends anything: it makes, updates or
cancels a draft the disaster desk confirms.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.api.emergencies import draft_public
from broadcaster.api.types import Id
from broadcaster.auth import CurrentActor, DisasterDeskActor
from broadcaster.clock import utcnow
from broadcaster.emergency.alert import ParsedAlert, parse_alert
from broadcaster.emergency.areas import AreaMap
from broadcaster.emergency.drafts import apply_alert
from broadcaster.emergency.models import AlertRecord
from broadcaster.errors import TooLarge, not_found
from broadcaster.offload import off_loop
from broadcaster.settings import Settings

router = APIRouter(prefix="/alerts", tags=["alerts"])


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge("body.too_large", limit=limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise TooLarge("body.too_large", limit=limit)
    return bytes(body)


@router.post(
    "",
    status_code=201,
    summary="Receive a CAP 1.2 alert or a JMA disaster XML report (body: the XML)",
    openapi_extra={"requestBody": {"content": {"application/xml": {"schema": {"type": "string"}}}}},
)
async def receive_alert(
    request: Request, settings: SettingsDep, actor: DisasterDeskActor
) -> dict[str, Any]:
    data = await _read_limited(request, settings.emergency.max_alert_bytes)
    # XML parsing is CPU work: off the event loop. AlertError -> its status
    # (broadcaster.api.refusals).
    alert = await off_loop(parse_alert, data, settings.emergency.max_alert_bytes)
    return await off_loop(_store, request.app.state.engine, settings, alert, data)


def _store(engine: Engine, settings: Settings, alert: ParsedAlert, data: bytes) -> dict[str, Any]:
    areas = AreaMap(settings.emergency.area_districts, settings.residents.districts)
    with Session(engine, expire_on_commit=False) as session:
        result = apply_alert(
            session,
            alert,
            data.decode("utf-8", errors="replace"),
            areas,
            settings.emergency.exercise_alerts,
            utcnow(),
        )
        session.commit()
        return {
            "alert_id": result.record.id,
            "source": alert.source,
            "status": alert.raw_status,
            "msg_type": alert.msg_type.value,
            "outcome": result.outcome,
            "draft": draft_public(result.draft) if result.draft else None,
        }


@router.get("", summary="Alerts received, newest first (without the raw document)")
def list_alerts(
    session: SessionDep,
    actor: CurrentActor,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    rows = session.exec(select(AlertRecord).order_by(col(AlertRecord.id).desc()).limit(limit)).all()
    return {"alerts": [r.model_dump(mode="json", exclude={"raw"}) for r in rows]}


@router.get("/{alert_id}", summary="One alert as received, with its raw document")
def get_alert(alert_id: Id, session: SessionDep, actor: CurrentActor) -> dict[str, Any]:
    record = session.get(AlertRecord, alert_id)
    if record is None:
        raise not_found("alert", alert_id)
    return record.model_dump(mode="json")
