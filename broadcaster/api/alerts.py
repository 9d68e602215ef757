"""`/api/v1/alerts`: CAP 1.2 and JMA disaster XML in, emergency drafts out.

The body is the XML document itself. It is read with a size limit (413 beyond
`emergency.max_alert_bytes`, checked while reading, so a huge body is never held), parsed
with defusedxml (DTDs and entities refused), and never sends anything: it makes, updates or
cancels a draft the disaster desk confirms. Every document is recorded with its outcome,
a refused one too (with the reason), so the desk sees a feed it missed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.api.emergency_answers import DraftPublic, draft_public
from broadcaster.auth import CurrentActor, DisasterDeskActor
from broadcaster.clock import utcnow
from broadcaster.emergency.alert import AlertError, ParsedAlert, parse_alert
from broadcaster.emergency.drafts import receive, record_refusal
from broadcaster.emergency.feeds import feed_status
from broadcaster.emergency.models import AlertRecord
from broadcaster.errors import TooLarge, not_found
from broadcaster.inputs import Id
from broadcaster.offload import off_loop
from broadcaster.settings import Settings
from broadcaster.timestamps import CityTimestamp

router = APIRouter(prefix="/alerts", tags=["alerts"])

class AlertReceived(BaseModel):
    alert_id: int
    source: str
    status: str
    msg_type: str
    outcome: str
    reason: str | None
    draft: DraftPublic | None


class AlertPublic(BaseModel):
    """An alert as received and what it led to (`raw` only when one alert is asked for)."""

    id: int
    received_at: CityTimestamp
    source: str
    identifier: str
    sender: str
    sent_at: CityTimestamp
    status: str
    msg_type: str
    title: str
    outcome: str
    reason: str | None
    draft_id: int | None


class AlertDocument(AlertPublic):
    raw: str


class AlertList(BaseModel):
    alerts: list[AlertPublic]


class FailedEntry(BaseModel):
    link: str
    title: str
    error: str | None


class FeedState(BaseModel):
    url: str
    last_success_at: CityTimestamp | None
    last_error: str | None
    last_error_at: CityTimestamp | None
    consecutive_failures: int
    entries: dict[str, int]
    failed_entries: list[FailedEntry]


class FeedList(BaseModel):
    feeds: list[FeedState]


class _TooLarge(Exception):
    def __init__(self, message: str, data: bytes) -> None:
        super().__init__(message)
        self.data = data


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge(f"alert document is {declared} bytes; the limit is {limit}", b"")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _TooLarge(f"alert document is over the limit of {limit} bytes", b"")
    return bytes(body)


@router.post(
    "",
    status_code=201,
    summary="Receive a CAP 1.2 alert or a JMA disaster XML report (body: the XML)",
    openapi_extra={"requestBody": {"content": {"application/xml": {"schema": {"type": "string"}}}}},
)
async def receive_alert(
    request: Request, settings: SettingsDep, actor: DisasterDeskActor
) -> AlertReceived:
    engine = request.app.state.engine
    limit = settings.emergency.max_alert_bytes
    try:
        data = await _read_limited(request, limit)
    except _TooLarge as exc:
        await run_in_threadpool(_refuse, engine, exc.data, str(exc))  # the desk sees it
        raise TooLarge("body.too_large", limit=limit) from None
    try:
        # XML parsing is CPU work: off the event loop.
        alert = await off_loop(parse_alert, data, limit, settings.emergency.cap_rules or None)
    except AlertError as exc:
        await run_in_threadpool(_refuse, engine, data, str(exc))
        raise  # -> its status in the problem shape (broadcaster.api.refusals)
    return await run_in_threadpool(store_alert, engine, settings, alert, data)


def _refuse(engine: Engine, data: bytes, reason: str) -> None:
    with Session(engine) as session:
        record_refusal(session, data, reason, utcnow())
        session.commit()


def store_alert(
    engine: Engine, settings: Settings, alert: ParsedAlert, data: bytes
) -> AlertReceived:
    result = receive(engine, settings, alert, data, utcnow())
    assert result.record.id is not None
    return AlertReceived(
        alert_id=result.record.id,
        source=alert.source,
        status=alert.raw_status,
        msg_type=alert.msg_type.value,
        outcome=result.outcome,
        reason=result.record.reason,
        draft=draft_public(result.draft) if result.draft else None,
    )


@router.get("", summary="Alerts received, newest first, with their outcome (no raw document)")
def list_alerts(
    session: SessionDep,
    actor: CurrentActor,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    outcome: Annotated[
        str | None, Query(description="only this outcome, e.g. refused, not_acted_on")
    ] = None,
) -> AlertList:
    query = select(AlertRecord).order_by(col(AlertRecord.id).desc()).limit(limit)
    if outcome:
        query = query.where(AlertRecord.outcome == outcome)
    rows = session.exec(query).all()
    return AlertList(alerts=[AlertPublic.model_validate(r.model_dump()) for r in rows])


@router.get("/feeds", summary="Polled alert feeds: last success, last error, entries fetched")
def list_feeds(session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> FeedList:
    return FeedList.model_validate({"feeds": feed_status(session, settings)})


@router.get("/{alert_id}", summary="One alert as received, with its raw document")
def get_alert(alert_id: Id, session: SessionDep, actor: CurrentActor) -> AlertDocument:
    record = session.get(AlertRecord, alert_id)
    if record is None:
        raise not_found("alert", alert_id)
    return AlertDocument.model_validate(record.model_dump())
