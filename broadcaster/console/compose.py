"""Writing a notice in the console: the form, its live count and preview, the confirmation.

A notice is written (GET /console/new, or /console/broadcasts/{id}/edit), looked at while
it is written (POST …/look answers a fragment: the count, the breakdown, the messages as
LINE shows them), confirmed on a page of its own (count by district and language, the
quota, the warnings), and only then created (`create_broadcast`) or changed
(`update_broadcast`, the API's PATCH). A draft is saved without the confirmation: it sends
nothing. A notice to everyone needs the box 「全員に送ることを確認しました」 ticked, checked
here on the server, not only in the page. The pages themselves are drawn in
`compose_pages`; the core's refusals are put into the form's words in `compose_refusals`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from broadcaster.api.deps import SessionDep, SettingsDep, get_renderer
from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_edits import BroadcastConflict, update_broadcast
from broadcaster.broadcast_requests import BroadcastRefused, BroadcastRequest
from broadcaster.broadcasts import EDITABLE, Broadcast, BroadcastStatus
from broadcaster.clock import utcnow
from broadcaster.console.compose_pages import confirm_page, form_page, needs_approval
from broadcaster.console.compose_refusals import form_refusal, refused_fields
from broadcaster.console.notice_form import FormRefused, NoticeForm, message
from broadcaster.console.notice_look import look
from broadcaster.console.notice_prefill import form_of
from broadcaster.console.web import Staff, redirect, render, require_csrf, requires
from broadcaster.departments import Role
from broadcaster.errors import not_found
from broadcaster.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
Writer = Annotated[Staff, Depends(requires(Role.department, Role.admin))]


def _visible(session: Session, staff: Staff, broadcast_id: int) -> Broadcast:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or not staff.actor.may_see(broadcast.department_id):
        raise not_found("broadcast", broadcast_id)
    return broadcast


@router.get("/console/new", response_class=HTMLResponse)
def new_notice(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: Writer,
) -> Response:
    """The empty form, or (`?from=<id>`) a copy of another notice to start from."""
    from_ = _from(request)
    if from_ is not None:
        form = form_of(_visible(session, staff, from_), settings, copy=True)
    else:
        form = NoticeForm()
    return form_page(request, session, staff, form)


def _from(request: Request) -> int | None:
    raw = request.query_params.get("from", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


@router.post("/console/new", response_class=HTMLResponse)
async def post_notice(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Writer
) -> Response:
    return await _post(request, session, settings, staff, None)


@router.get("/console/broadcasts/{broadcast_id}/edit", response_class=HTMLResponse)
def edit_notice(
    request: Request, broadcast_id: int, session: SessionDep, settings: SettingsDep, staff: Writer
) -> Response:
    broadcast = _visible(session, staff, broadcast_id)
    if broadcast.status not in EDITABLE or broadcast.template_text is None:
        raise BroadcastConflict(broadcast, "edited")
    return form_page(request, session, staff, form_of(broadcast, settings), broadcast=broadcast)


@router.post("/console/broadcasts/{broadcast_id}/edit", response_class=HTMLResponse)
async def post_edit(
    request: Request, broadcast_id: int, session: SessionDep, settings: SettingsDep, staff: Writer
) -> Response:
    broadcast = _visible(session, staff, broadcast_id)
    if broadcast.status not in EDITABLE or broadcast.template_text is None:
        raise BroadcastConflict(broadcast, "edited")
    return await _post(request, session, settings, staff, broadcast)


async def _post(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Staff,
    broadcast: Broadcast | None,
) -> Response:
    """One handler for the form's three buttons and the confirmation's two:
    draft (store, send nothing), confirm (show what it will do), back (to the form),
    send (create or change it)."""
    data = await request.form()
    form = NoticeForm.read(data, settings)
    # The form's buttons; a bare `draft=true` (the first console's checkbox) is a draft too.
    action = data.get("action") or ("draft" if data.get("draft") == "true" else None)
    now = utcnow()
    draft = action == "draft"
    if draft and form.when == "at" and not form.send_at and form.repeat == "none":
        form.when = "now"  # a draft needs no time yet; it is chosen when it is scheduled

    def again(fields: dict[str, str]) -> HTMLResponse:
        session.rollback()
        return form_page(
            request,
            session,
            staff,
            form,
            broadcast=broadcast,
            refusal=form_refusal(fields),
            status_code=422,
        )

    if action == "back":
        return form_page(request, session, staff, form, broadcast=broadcast)
    try:
        notice = form.request(settings, draft=draft)
    except FormRefused as exc:
        return again(exc.fields)
    try:
        if action != "send" and not draft:
            return confirm_page(request, session, staff, form, notice, broadcast=broadcast)
        if not draft and form.everyone() and not form.confirm_all:
            return confirm_page(
                request,
                session,
                staff,
                form,
                notice,
                broadcast=broadcast,
                refusal=form_refusal({"confirm_all": message("confirm_all")}),
                status_code=422,
            )
        saved = _save(request, session, settings, staff, broadcast, form, notice, draft, now)
    except BroadcastRefused as exc:
        return again(refused_fields(exc, form, settings, now))
    session.commit()
    assert saved.id is not None
    if saved.status == BroadcastStatus.scheduled and saved.send_at <= now:
        dispatcher = getattr(request.app.state, "dispatcher", None)
        if dispatcher is not None:
            dispatcher.dispatch_soon(saved.id)
    return redirect(f"/console/broadcasts/{saved.id}")


def _save(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Staff,
    broadcast: Broadcast | None,
    form: NoticeForm,
    notice: BroadcastRequest,
    draft: bool,
    now: datetime,
) -> Broadcast:
    renderer = get_renderer(request)
    if broadcast is None:
        return create_broadcast(
            session,
            staff.actor.label,
            staff.actor.department_id,
            notice,
            settings,
            renderer,
            now,
            needs_approval=needs_approval(staff),
        )
    return update_broadcast(
        session,
        broadcast,
        staff.actor.label,
        form.changes(settings, draft=draft),
        settings,
        renderer,
        now,
        needs_approval=needs_approval(staff),
    )


@router.post("/console/new/look", response_class=HTMLResponse)
async def look_fragment(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Writer
) -> Response:
    """The form's live panel (a fragment): count, breakdown, preview per language, or
    what keeps it from being sent. The page's script posts the form here as it changes."""
    form = NoticeForm.read(await request.form(), settings)
    if form.when == "at" and not form.send_at:
        form.when = "now"  # while no time is chosen, count as if it went now
    now = utcnow()
    problems: dict[str, str] = {}
    seen = None
    try:
        notice = form.request(settings, draft=True)
        seen = look(
            session,
            notice,
            settings,
            get_renderer(request),
            now,
            department_id=staff.actor.department_id,
            actor_label=staff.actor.label,
        )
    except FormRefused as exc:
        problems = exc.fields
    except BroadcastRefused as exc:
        problems = refused_fields(exc, form, settings, now)
    finally:
        session.rollback()
    return render(
        request,
        "_notice_look.html",
        staff,
        seen=seen,
        problems=problems,
        everyone=not problems and form.everyone(),
    )
