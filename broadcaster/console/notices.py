"""Notices in the console: the list, one notice, a new one, cancelling.

Everything goes through the same checks as the API (`create_broadcast`,
`cancel_broadcast`); a refusal is shown on the form, next to its field, with nothing stored.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.auth import Actor
from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcast_changes import (
    EDITABLE,
    BroadcastConflict,
    BroadcastRefused,
    BroadcastRequest,
    cancel_broadcast,
    create_broadcast,
)
from broadcaster.broadcasts import Broadcast
from broadcaster.clock import utcnow
from broadcaster.console.web import ConsoleActor, render, require_csrf
from broadcaster.departments import Department, Role
from broadcaster.progress import delivery_counts_of
from broadcaster.quiet_hours import window_label
from broadcaster.settings import Settings
from segments.enrollment import category_label

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])

STATUS_LABELS = {
    "draft": "下書き",
    "awaiting_approval": "承認待ち",
    "scheduled": "予約済み",
    "sending": "配信中",
    "sent": "配信完了",
    "partially_failed": "一部失敗",
    "cancelled": "取消",
    "expired": "期限切れ(未送信)",
    "failed": "失敗(配信できず)",
}
DELIVERY_LABELS = {
    "queued": "送信待ち",
    "accepted": "LINE受付済",
    "failed": "失敗",
    "unknown": "結果不明(要確認)",
    "skipped_cap": "上限超過で省略",
    "digested": "まとめ配信へ",
}


# What a refusal's `field` is called on the form.
FIELD_LABELS = {
    "title": "件名",
    "category": "分類",
    "template": "本文",
    "messages": "本文（LINEの上限）",
    "rule": "対象地区",
    "send_at": "配信日時",
}


def _render(request: Request, name: str, actor: Actor, **context: Any) -> HTMLResponse:
    return render(
        request,
        name,
        request.state.staff,
        status_labels=STATUS_LABELS,
        category_label=category_label,
        **context,
    )


@router.get("/console/broadcasts", response_class=HTMLResponse)
def broadcasts(
    request: Request, session: SessionDep, actor: ConsoleActor, status: str | None = None
) -> Response:
    query = (
        select(Broadcast, Department.name)
        .join(Department, col(Department.id) == Broadcast.department_id)
        .order_by(col(Broadcast.send_at).desc())
        .limit(200)
    )
    if actor.role != Role.admin:
        query = query.where(Broadcast.department_id == actor.department_id)
    if status:
        query = query.where(Broadcast.status == status)
    rows = session.exec(query).all()
    counts = _delivery_counts(session, [b.id for b, _ in rows if b.id is not None])
    unknown = session.exec(
        select(sa.func.count()).select_from(Batch).where(Batch.status == BatchStatus.unknown)
    ).one()
    return _render(
        request,
        "broadcasts.html",
        actor,
        rows=rows,
        counts=counts,
        status=status,
        unknown_batches=unknown if actor.role == Role.admin else 0,
    )


@router.get("/console/broadcasts/{broadcast_id}", response_class=HTMLResponse)
def broadcast_detail(
    request: Request, broadcast_id: int, session: SessionDep, actor: ConsoleActor
) -> Response:
    return _detail(request, session, actor, _visible(session, actor, broadcast_id))


def _visible(session: Session, actor: Actor, broadcast_id: int) -> Broadcast:
    """The broadcast, or 404 when it does not exist or belongs to another department."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or not actor.may_see(broadcast.department_id):
        raise HTTPException(404, "配信が見つかりません")
    return broadcast


def _detail(
    request: Request,
    session: Session,
    actor: Actor,
    broadcast: Broadcast,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    assert broadcast.id is not None
    counts = _delivery_counts(session, [broadcast.id]).get(broadcast.id, {})
    problems = session.exec(
        select(Batch)
        .where(
            Batch.broadcast_id == broadcast.id,
            col(Batch.status).in_([BatchStatus.failed, BatchStatus.unknown]),
        )
        .limit(50)
    ).all()
    response = _render(
        request,
        "broadcast.html",
        actor,
        broadcast=broadcast,
        counts=counts,
        delivery_labels=DELIVERY_LABELS,
        problems=problems,
        cancellable=broadcast.status in EDITABLE,
        error=error,
    )
    response.status_code = status_code
    return response


@router.post("/console/broadcasts/{broadcast_id}/cancel", response_class=HTMLResponse)
def cancel(
    request: Request, broadcast_id: int, session: SessionDep, actor: ConsoleActor
) -> Response:
    broadcast = _visible(session, actor, broadcast_id)
    try:
        cancel_broadcast(session, broadcast, actor.label, utcnow())
    except BroadcastConflict:
        session.rollback()
        label = STATUS_LABELS.get(broadcast.status, broadcast.status)
        error = f"「{label}」の配信は取り消せません。"
        return _detail(request, session, actor, broadcast, error, status_code=409)
    session.commit()
    return RedirectResponse(f"/console/broadcasts/{broadcast_id}", status_code=303)


@router.get("/console/new", response_class=HTMLResponse)
def new_broadcast(request: Request, settings: SettingsDep, actor: ConsoleActor) -> Response:
    return _form(request, actor, settings, NoticeForm())


class NoticeForm:
    """What the new-notice form holds (also what it shows again after a refusal)."""

    def __init__(
        self,
        title: str = "",
        category: str = "general",
        text: str = "",
        districts: list[str] | None = None,
        send_at: str = "",
        draft: bool = False,
    ) -> None:
        self.title, self.category, self.text = title, category, text
        self.districts = districts or []
        self.send_at, self.draft = send_at, draft


def _form(
    request: Request,
    actor: Actor,
    settings: Settings,
    form: NoticeForm,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    response = _render(
        request,
        "new.html",
        actor,
        form=form,
        error=error,
        categories=[(c, category_label(c)) for c in settings.residents.categories],
        districts=settings.residents.districts,
        quiet_hours=window_label(settings.quiet_hours) if settings.quiet_hours.enabled else None,
    )
    response.status_code = status_code
    return response


@router.post("/console/new", response_class=HTMLResponse)
def create_notice(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ConsoleActor,
    title: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    districts: Annotated[list[str] | None, Form()] = None,
    send_at: Annotated[str, Form()] = "",
    draft: Annotated[bool, Form()] = False,
) -> Response:
    form = NoticeForm(title.strip(), category, text, districts, send_at.strip(), draft)
    when: datetime | None = None
    if form.send_at:
        try:
            when = datetime.fromisoformat(form.send_at)  # datetime-local: Asia/Tokyo
        except ValueError:
            return _form(request, actor, settings, form, "配信日時の形式が正しくありません。", 422)
    notice = BroadcastRequest(
        title=form.title,
        category=form.category,
        template_text=form.text,
        rule={"field": "district", "op": "in", "value": form.districts} if form.districts else None,
        send_at=when,
        draft=form.draft,
    )
    try:
        broadcast = create_broadcast(
            session,
            actor.label,
            actor.department_id,
            notice,
            settings,
            request.app.state.renderer,
            utcnow(),
            needs_approval=actor.role != Role.admin,
        )
    except BroadcastRefused as exc:
        session.rollback()
        where = FIELD_LABELS.get(exc.field, exc.field)
        return _form(
            request, actor, settings, form, f"登録できませんでした（{where}）：{exc.message}", 422
        )
    session.commit()
    return RedirectResponse(f"/console/broadcasts/{broadcast.id}", status_code=303)


def _delivery_counts(session: Session, broadcast_ids: list[int]) -> dict[int, dict[str, int]]:
    """Delivery counts by status for each broadcast (zeros left out)."""
    return {
        broadcast_id: {status: n for status, n in counts.items() if n}
        for broadcast_id, counts in delivery_counts_of(session, broadcast_ids).items()
    }
