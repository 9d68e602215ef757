"""The disaster desk's alert inbox (/console/emergency/alerts): drafts the alert feeds
made (気象庁 and the prefecture's CAP), waiting for the desk to confirm, the alerts that
were refused, and each feed's state.

A draft is sent by the API's confirm route with the signed-in person's `Actor`
(`console.desk`): confirming here is confirming there.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from broadcaster.api import emergency_drafts as api
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.console.api_calls import refusal_of
from broadcaster.console.desk import BASE, Desk, attempt, open_counts, page
from broadcaster.console.web import Staff, redirect, require_csrf
from broadcaster.emergency.feeds import feed_status
from broadcaster.emergency.models import AlertRecord, DraftStatus, EmergencyDraft
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


@router.get(f"{BASE}/alerts", response_class=HTMLResponse)
def alerts(request: Request, session: SessionDep, settings: SettingsDep, staff: Desk) -> Response:
    return _alerts(request, session, settings, staff)


def _alerts(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Staff,
    refused: dict[str, Any] | None = None,
    refused_draft: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    drafts = session.exec(
        select(EmergencyDraft)
        .where(EmergencyDraft.status == DraftStatus.open)
        .order_by(col(EmergencyDraft.updated_at).desc())
        .limit(50)
    ).all()
    refused_alerts = session.exec(
        select(AlertRecord)
        .where(AlertRecord.outcome == "refused")
        .order_by(col(AlertRecord.id).desc())
        .limit(10)
    ).all()
    return page(
        request,
        staff,
        "emergency_alerts.html",
        status_code,
        drafts=drafts,
        refused_alerts=refused_alerts,
        feeds=feed_status(session, settings),
        refusal=refused,
        refused_draft=refused_draft,
        open_counts={
            d.id: open_counts(session, d.kind) for d in drafts if d.kind and d.id is not None
        },
    )


@router.post(BASE + "/alerts/{draft_id:int}/confirm", response_class=HTMLResponse)
def confirm(
    request: Request, draft_id: int, session: SessionDep, settings: SettingsDep, staff: Desk
) -> Response:
    """One step: the draft as it stands is sent (the API's confirm route)."""
    result = attempt(
        session,
        lambda: api.confirm_draft(draft_id, request, session, settings, staff.actor, None),
    )
    refused = refusal_of(result)
    if refused is not None:
        return _alerts(request, session, settings, staff, refused, draft_id, 422)
    assert isinstance(result, dict)
    return redirect(f"{BASE}/{result['id']}")
