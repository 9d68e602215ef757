"""Writing a notice in the console: the form, its live count and preview, the confirmation.

A notice is written (GET /console/new, or /console/broadcasts/{id}/edit), looked at while
it is written (POST …/look answers a fragment: the count, the breakdown, the messages as
LINE shows them), confirmed on a page of its own (count by district and language, the
quota, the warnings), and only then created (`create_broadcast`) or changed
(`update_broadcast`, the API's PATCH). A draft is saved without the confirmation: it sends
nothing. A notice to everyone needs the box 「全員に送ることを確認しました」 ticked, checked
here on the server, not only in the page.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from broadcaster import quiet_hours
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_edits import BroadcastConflict, update_broadcast
from broadcaster.broadcast_requests import BroadcastRefused, BroadcastRequest
from broadcaster.broadcasts import EDITABLE, Broadcast, BroadcastStatus
from broadcaster.clock import utcnow
from broadcaster.console.notice_form import (
    NTHS,
    REPEATS,
    VARIABLES,
    VARIANTS,
    WEEKDAY_CODES,
    FormRefused,
    NoticeForm,
    digest_offered,
    form_of,
    message,
)
from broadcaster.console.notice_look import look
from broadcaster.console.notice_words import (
    STATUS_LABELS,
    WEEKDAYS,
    language_name,
    recurrence_words,
    rule_words,
)
from broadcaster.console.web import Staff, redirect, render, require_csrf, requires
from broadcaster.departments import Role
from broadcaster.errors import not_found
from broadcaster.horizon import refusal as beyond_horizon
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from segments.enrollment import category_label
from segments.saved import Segment, visible_segments

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
Writer = Annotated[Staff, Depends(requires(Role.department, Role.admin))]


def renderer_of(request: Request) -> Renderer:
    renderer: Renderer | None = getattr(request.app.state, "renderer", None)
    if renderer is None:
        renderer = Renderer.from_settings(request.app.state.settings)
        request.app.state.renderer = renderer
    return renderer


def _visible(session: Session, staff: Staff, broadcast_id: int) -> Broadcast:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or not staff.actor.may_see(broadcast.department_id):
        raise not_found("broadcast", broadcast_id)
    return broadcast


def _needs_approval(staff: Staff) -> bool:
    return staff.role != Role.admin


# -- refusals -------------------------------------------------------------------------


def _refusal(fields: dict[str, str]) -> dict[str, Any]:
    return {"detail": message("refused"), "fields": fields}


_OVER_LIMIT = re.compile(r"([\d,]+) UTF-16 units, LINE allows ([\d,]+)")
_TRIAL_LANGUAGE = re.compile(r"language=([a-z-]+)")


def refused_fields(
    exc: BroadcastRefused, form: NoticeForm, settings: Settings, now: datetime
) -> dict[str, str]:
    """The core's refusal as the form's control and a Japanese sentence."""
    where = exc.field
    if where == "title":
        return {"title": message("title_empty" if not form.title else "title_long")}
    if where == "category":
        return {"category": message("category")}
    over = _OVER_LIMIT.search(exc.message)
    if over is not None:
        language = _TRIAL_LANGUAGE.search(exc.message)
        detail = f"{over[1]}文字、上限は{over[2]}文字"
        if language is not None:
            detail += f"（{language_name(language[1])}の文面）"
        return {"text": message("messages", detail=detail)}
    if where == "template":
        return {"text": message("template", detail=exc.message.removeprefix("template: "))}
    if where == "messages":
        return {"text": message("messages", detail=exc.message.removeprefix("LINE limits: "))}
    if where.startswith("rule"):
        return {"targets": message("rule")}
    if where == "segment_id":
        return {"segment_id": message("segment")}
    if where == "recurrence":
        if "quiet hours" in exc.message:
            return {"repeat": message("repeat_quiet", window=_window(settings))}
        return {"repeat": message("repeat")}
    if where == "digest":
        return {"digest": message("digest")}
    if where == "send_at":
        return {"send_at": _send_at_text(form, settings, now)}
    return {where: exc.message}


def _window(settings: Settings) -> str:
    return quiet_hours.window_label(settings.quiet_hours)


def _send_at_text(form: NoticeForm, settings: Settings, now: datetime) -> str:
    try:
        chosen = form.when_local(settings) or now
    except FormRefused as exc:
        return exc.fields["send_at"]
    if beyond_horizon(chosen, settings, now):
        return message("send_at_far", days=settings.scheduling.horizon_days)
    if chosen < now:
        return message("send_at_past")
    if quiet_hours.in_quiet_hours(chosen, settings.quiet_hours, settings.tz):
        suggested = quiet_hours.next_allowed(chosen, settings.quiet_hours, settings.tz)
        return message(
            "send_at_quiet",
            window=_window(settings),
            suggested=f"{suggested.astimezone(settings.tz):%m月%d日 %H:%M}",
        )
    return message("send_at_other")


# -- pages ----------------------------------------------------------------------------


def _form_page(
    request: Request,
    session: Session,
    staff: Staff,
    form: NoticeForm,
    *,
    broadcast: Broadcast | None = None,
    refusal: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    residents = settings.residents
    department = None if staff.role == Role.admin else staff.actor.department_id
    return render(
        request,
        "notice_form.html",
        staff,
        status_code=status_code,
        form=form,
        refusal=refusal,
        broadcast=broadcast,
        action=(f"/console/broadcasts/{broadcast.id}/edit" if broadcast else "/console/new"),
        categories=[(c, category_label(c)) for c in residents.categories],
        districts=residents.districts,
        zones=residents.zones,
        interests=residents.interests,
        languages=[(code, language_name(code)) for code in residents.languages],
        flags=list(enumerate(residents.household_flags)),
        variants=[
            (code, name, language_name(code))
            for code, name in VARIANTS.items()
            if code in residents.languages
        ],
        segments=visible_segments(session, department),
        variables=VARIABLES,
        repeats=REPEATS,
        weekdays=list(zip(WEEKDAY_CODES, WEEKDAYS, strict=True)),
        nths=NTHS,
        digest_offered=digest_offered(settings),
        quiet_hours=_window(settings) if settings.quiet_hours.enabled else None,
        kept_rule_words=rule_words(_json(form.kept_rule)) if form.kept_rule else "",
        status_labels=STATUS_LABELS,
    )


def _json(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _confirm_page(
    request: Request,
    session: Session,
    staff: Staff,
    form: NoticeForm,
    notice: BroadcastRequest,
    *,
    broadcast: Broadcast | None = None,
    refusal: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    now = utcnow()
    seen = look(
        session,
        notice,
        settings,
        renderer_of(request),
        now,
        department_id=broadcast.department_id if broadcast else staff.actor.department_id,
        actor_label=staff.actor.label,
    )
    session.rollback()  # a look stores nothing
    segment = session.get(Segment, notice.segment_id) if notice.segment_id else None
    send_at = notice.send_at
    return render(
        request,
        "notice_confirm.html",
        staff,
        status_code=status_code,
        form=form,
        hidden=form.hidden() + form.hidden_flags(settings),
        seen=seen,
        notice=notice,
        broadcast=broadcast,
        everyone=form.everyone(),
        targets=(f"保存済みの対象「{segment.name}」" if segment else rule_words(notice.rule)),
        when=send_at,
        repeat=recurrence_words(notice.recurrence),
        category=category_label(notice.category),
        action=(f"/console/broadcasts/{broadcast.id}/edit" if broadcast else "/console/new"),
        approval=(settings.scheduling.approval_required and _needs_approval(staff)),
        refusal=refusal,
    )


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
    return _form_page(request, session, staff, form)


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
    return _form_page(request, session, staff, form_of(broadcast, settings), broadcast=broadcast)


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
        return _form_page(
            request,
            session,
            staff,
            form,
            broadcast=broadcast,
            refusal=_refusal(fields),
            status_code=422,
        )

    if action == "back":
        return _form_page(request, session, staff, form, broadcast=broadcast)
    try:
        notice = form.request(settings, draft=draft)
    except FormRefused as exc:
        return again(exc.fields)
    try:
        if action != "send" and not draft:
            return _confirm_page(request, session, staff, form, notice, broadcast=broadcast)
        if not draft and form.everyone() and not form.confirm_all:
            return _confirm_page(
                request,
                session,
                staff,
                form,
                notice,
                broadcast=broadcast,
                refusal=_refusal({"confirm_all": message("confirm_all")}),
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
    renderer = renderer_of(request)
    if broadcast is None:
        return create_broadcast(
            session,
            staff.actor.label,
            staff.actor.department_id,
            notice,
            settings,
            renderer,
            now,
            needs_approval=_needs_approval(staff),
        )
    return update_broadcast(
        session,
        broadcast,
        staff.actor.label,
        form.changes(settings, draft=draft),
        settings,
        renderer,
        now,
        needs_approval=_needs_approval(staff),
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
            renderer_of(request),
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
