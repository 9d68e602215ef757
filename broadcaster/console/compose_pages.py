"""The two pages of writing a notice: the form, and the confirmation before it is sent.

Both are drawn again after every post (a refusal shows the form as typed, with a message
at each control; "back" shows the form from the confirmation's hidden fields), so the
routes in `compose` only decide which one to show. The confirmation runs the same `look`
as the form's live panel, and stores nothing.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from broadcaster.api.deps import get_renderer
from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.broadcasts import Broadcast
from broadcaster.clock import utcnow
from broadcaster.console.compose_refusals import quiet_window
from broadcaster.console.notice_form import (
    NTHS,
    REPEATS,
    VARIABLES,
    VARIANTS,
    WEEKDAY_CODES,
    NoticeForm,
    digest_offered,
)
from broadcaster.console.notice_look import look
from broadcaster.console.notice_words import (
    STATUS_LABELS,
    WEEKDAYS,
    language_name,
    recurrence_words,
    rule_words,
)
from broadcaster.console.web import Staff, render
from broadcaster.departments import Role
from broadcaster.settings import Settings
from segments.saved import Segment, visible_segments
from segments.stops import category_label


def needs_approval(staff: Staff) -> bool:
    """Whether a notice this clerk saves waits for an admin (when the city asks for it)."""
    return staff.role != Role.admin


def form_page(
    request: Request,
    session: Session,
    staff: Staff,
    form: NoticeForm,
    *,
    broadcast: Broadcast | None = None,
    refusal: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The notice form (new, or editing `broadcast`), with `refusal`'s fields marked."""
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
        quiet_hours=quiet_window(settings) if settings.quiet_hours.enabled else None,
        kept_rule_words=rule_words(_json(form.kept_rule)) if form.kept_rule else "",
        status_labels=STATUS_LABELS,
    )


def _json(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def confirm_page(
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
    """The confirmation page: who the notice reaches and what each language reads, before
    it is saved or sent."""
    settings: Settings = request.app.state.settings
    now = utcnow()
    seen = look(
        session,
        notice,
        settings,
        get_renderer(request),
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
        approval=(settings.scheduling.approval_required and needs_approval(staff)),
        refusal=refusal,
    )
