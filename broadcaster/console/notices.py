"""Notices in the console: the list, one notice and its delivery, stopping and approving.

Writing a notice lives in `broadcaster.console.compose`. Here: the list (50 a page, its
counts in one GROUP BY), a notice's page (its text, its targets in words, who made it,
its live progress), cancelling (after a confirmation page), and an admin's approval or
sending back. Every change goes through the same functions as the API
(`cancel_broadcast`, `approve_broadcast`, `update_broadcast`), so the console can do
nothing the API would refuse.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from broadcaster.api.deps import SessionDep, SettingsDep, get_renderer
from broadcaster.audit import AuditEntry, record
from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcast_edits import (
    BroadcastConflict,
    approve_broadcast,
    cancel_broadcast,
    update_broadcast,
)
from broadcaster.broadcast_requests import BroadcastRefused
from broadcaster.broadcasts import EDITABLE, FINISHED, Broadcast, BroadcastStatus
from broadcaster.clock import utcnow
from broadcaster.console.notice_look import look_at
from broadcaster.console.notice_template import split_template
from broadcaster.console.notice_words import (
    DELIVERY_LABELS,
    REACHED_NOBODY,
    STATUS_LABELS,
    language_name,
    recurrence_words,
    rule_words,
)
from broadcaster.console.web import ConsoleStaff, Staff, redirect, render, require_csrf, requires
from broadcaster.departments import Department, Role
from broadcaster.errors import not_found
from broadcaster.progress import delivery_counts_of
from broadcaster.settings import Settings
from segments.saved import Segment
from segments.stops import category_label

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
PAGE = 50
Admin = Annotated[Staff, Depends(requires(Role.admin))]
# A scheduled notice this close to its time is watched (its page refreshes itself).
WATCH_AHEAD = timedelta(minutes=10)
FAILED_BATCH = (
    "LINEがこの{n}人分の送信を受け付けませんでした。自動で再送を{attempts}回試みましたが"
    "届いていません。"
)
UNKNOWN_BATCH = (
    "LINEからの応答が確認できず、この{n}人に届いたかどうか分かりません。再送すると二重に"
    "届くおそれがあるため、自動では再送していません。LINE公式アカウントの管理画面で配信数を"
    "確認し、必要なら情報政策課に相談してください。"
)


def shown_status(broadcast: Broadcast, counts: dict[str, int]) -> tuple[str, str]:
    """(css key, label): a finished send that reached nobody is said so, not 配信完了."""
    if broadcast.status in (BroadcastStatus.sent, BroadcastStatus.partially_failed) and not (
        counts.get("accepted", 0) or counts.get("digested", 0)
    ):
        return "reached_nobody", REACHED_NOBODY
    return broadcast.status, STATUS_LABELS.get(broadcast.status, broadcast.status)


@router.get("/console/broadcasts", response_class=HTMLResponse)
def broadcasts(
    request: Request,
    session: SessionDep,
    staff: ConsoleStaff,
    status: str = "",
    category: str = "",
    department: Annotated[str, Query()] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Newest first, 50 a page; delivery counts of the page in one aggregate query."""
    settings: Settings = request.app.state.settings
    actor = staff.actor
    where: list[sa.ColumnElement[bool]] = []
    if actor.role != Role.admin:
        where.append(col(Broadcast.department_id) == actor.department_id)
    elif department.isdigit():
        where.append(col(Broadcast.department_id) == int(department))
    if status in STATUS_LABELS:
        where.append(col(Broadcast.status) == status)
    if category in settings.residents.categories:
        where.append(col(Broadcast.category) == category)
    total = session.exec(select(sa.func.count()).select_from(Broadcast).where(*where)).one()
    pages = max(1, -(-int(total) // PAGE))
    page = min(page, pages)
    rows = session.exec(
        select(Broadcast, Department.name)
        .join(Department, col(Department.id) == Broadcast.department_id)
        .where(*where)
        .order_by(col(Broadcast.send_at).desc(), col(Broadcast.id).desc())
        .offset((page - 1) * PAGE)
        .limit(PAGE)
    ).all()
    counts = delivery_counts_of(session, [b.id for b, _ in rows if b.id is not None])
    unknown = 0
    if actor.role == Role.admin:
        unknown = session.exec(
            select(sa.func.count()).select_from(Batch).where(Batch.status == BatchStatus.unknown)
        ).one()
    filters = {"status": status, "category": category, "department": department}
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(
        request,
        "broadcasts.html",
        staff,
        rows=[
            (b, name, counts.get(b.id or 0, {}), shown_status(b, counts.get(b.id or 0, {})))
            for b, name in rows
        ],
        total=int(total),
        page=page,
        pages=pages,
        query=query,
        filters=filters,
        status_labels=STATUS_LABELS,
        categories=[(c, category_label(c)) for c in settings.residents.categories],
        departments=(
            session.exec(select(Department).order_by(col(Department.id))).all()
            if actor.role == Role.admin
            else []
        ),
        unknown_batches=unknown,
        category_label=category_label,
    )


def _visible(session: Session, staff: Staff, broadcast_id: int) -> Broadcast:
    """The broadcast, or 404 when it does not exist or belongs to another department."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or not staff.actor.may_see(broadcast.department_id):
        raise not_found("broadcast", broadcast_id)
    return broadcast


def _watched(broadcast: Broadcast, now: datetime) -> bool:
    if broadcast.status == BroadcastStatus.sending:
        return True
    return broadcast.status == BroadcastStatus.scheduled and broadcast.send_at <= now + WATCH_AHEAD


def _progress(
    request: Request, session: Session, broadcast: Broadcast, now: datetime, *, light: bool = False
) -> dict[str, Any]:
    """What the progress panel shows: counts per status, who was skipped and why, the
    batches needing a person, and whether to keep refreshing."""
    settings: Settings = request.app.state.settings
    assert broadcast.id is not None
    counts = delivery_counts_of(session, [broadcast.id])[broadcast.id]
    total = sum(counts.values())
    settled = total - counts.get("queued", 0)
    planned = None
    if broadcast.status in EDITABLE:
        planned = look_at(session, broadcast, settings, get_renderer(request), now, light=light)
    problems = session.exec(
        select(Batch)
        .where(
            Batch.broadcast_id == broadcast.id,
            col(Batch.status).in_([BatchStatus.failed, BatchStatus.unknown]),
        )
        .order_by(col(Batch.id))
        .limit(50)
    ).all()
    attention = [
        (
            batch,
            (UNKNOWN_BATCH if batch.status == BatchStatus.unknown else FAILED_BATCH).format(
                n=batch.recipient_count, attempts=batch.attempts
            ),
        )
        for batch in problems
    ]
    key, label = shown_status(broadcast, counts)
    return {
        "broadcast": broadcast,
        "counts": counts,
        "total": total,
        "percent": round(100 * settled / total) if total else 0,
        "planned": planned,
        "attention": attention,
        "delivery_labels": DELIVERY_LABELS,
        "status_key": key,
        "status_label": label,
        "final": not _watched(broadcast, now),
    }


@router.get("/console/broadcasts/{broadcast_id}", response_class=HTMLResponse)
def broadcast_detail(
    request: Request, broadcast_id: int, session: SessionDep, staff: ConsoleStaff
) -> Response:
    broadcast = _visible(session, staff, broadcast_id)
    return _detail(request, session, staff, broadcast)


def _detail(
    request: Request,
    session: Session,
    staff: Staff,
    broadcast: Broadcast,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    now = utcnow()
    japanese, variants = split_template(broadcast.template_text)
    texts = [("日本語", japanese)] + [(language_name(k), v) for k, v in variants.items()]
    segment = session.get(Segment, broadcast.segment_id) if broadcast.segment_id else None
    department = session.get(Department, broadcast.department_id)
    progress = _progress(request, session, broadcast, now)
    sent_back = _sent_back(session, broadcast)
    session.rollback()
    return render(
        request,
        "broadcast.html",
        staff,
        status_code=status_code,
        error=error,
        department=department.name if department else "",
        texts=texts if broadcast.template_text is not None else [],
        targets=(
            f"保存済みの対象「{segment.name}」（第{broadcast.segment_version}版）："
            + rule_words(broadcast.rule)
            if segment
            else rule_words(broadcast.rule)
        ),
        repeat=recurrence_words(broadcast.recurrence),
        category_label=category_label,
        # The form writes inline text: a notice made from a template file (a garbage
        # reminder, a benefit notice) is changed where it was made, and only cancelled here.
        editable=broadcast.status in EDITABLE
        and broadcast.template_text is not None
        and staff.role in (Role.department, Role.admin),
        cancellable=broadcast.status in EDITABLE,
        may_approve=staff.role == Role.admin
        and broadcast.status == BroadcastStatus.awaiting_approval,
        finished=broadcast.status in FINISHED,
        sent_back=sent_back,
        settings=settings,
        **progress,
    )


def _sent_back(session: Session, broadcast: Broadcast) -> AuditEntry | None:
    """The admin's sending back of this draft (who, when, why), unless edited since."""
    if broadcast.status != BroadcastStatus.draft:
        return None
    latest = session.exec(
        select(AuditEntry)
        .where(
            AuditEntry.entity == "broadcast",
            AuditEntry.entity_id == str(broadcast.id),
            col(AuditEntry.action).in_(["broadcast.send_back", "broadcast.update"]),
        )
        .order_by(col(AuditEntry.id).desc())
        .limit(1)
    ).first()
    return latest if latest is not None and latest.action == "broadcast.send_back" else None


@router.get("/console/broadcasts/{broadcast_id}/progress", response_class=HTMLResponse)
def progress_fragment(
    request: Request, broadcast_id: int, session: SessionDep, staff: ConsoleStaff
) -> Response:
    """The progress panel alone, for the page's data-refresh (data-final when done)."""
    broadcast = _visible(session, staff, broadcast_id)
    context = _progress(request, session, broadcast, utcnow(), light=True)
    session.rollback()
    return render(request, "_notice_progress.html", staff, **context)


@router.get("/console/broadcasts/{broadcast_id}/cancel", response_class=HTMLResponse)
def cancel_page(
    request: Request, broadcast_id: int, session: SessionDep, staff: ConsoleStaff
) -> Response:
    """Asks before cancelling (works without the page's script)."""
    broadcast = _visible(session, staff, broadcast_id)
    if broadcast.status not in EDITABLE:
        raise BroadcastConflict(broadcast, "cancelled")
    return render(
        request,
        "notice_cancel.html",
        staff,
        broadcast=broadcast,
        status_label=STATUS_LABELS.get(broadcast.status, broadcast.status),
    )


@router.post("/console/broadcasts/{broadcast_id}/cancel", response_class=HTMLResponse)
def cancel(
    request: Request, broadcast_id: int, session: SessionDep, staff: ConsoleStaff
) -> Response:
    broadcast = _visible(session, staff, broadcast_id)
    try:
        cancel_broadcast(session, broadcast, staff.actor.label, utcnow())
    except BroadcastConflict:
        session.rollback()
        label = STATUS_LABELS.get(broadcast.status, broadcast.status)
        error = f"「{label}」の配信は取り消せません。"
        return _detail(request, session, staff, broadcast, error=error, status_code=409)
    session.commit()
    return redirect(f"/console/broadcasts/{broadcast_id}")


@router.post("/console/broadcasts/{broadcast_id}/approve", response_class=HTMLResponse)
def approve(
    request: Request, broadcast_id: int, session: SessionDep, settings: SettingsDep, staff: Admin
) -> Response:
    broadcast = _visible(session, staff, broadcast_id)
    try:
        approve_broadcast(session, broadcast, staff.actor.label, settings, utcnow())
    except BroadcastRefused:
        session.rollback()
        error = "配信予定の時刻を過ぎています。配信日時を変更してから承認してください。"
        return _detail(request, session, staff, broadcast, error=error, status_code=422)
    except BroadcastConflict:
        session.rollback()
        label = STATUS_LABELS.get(broadcast.status, broadcast.status)
        return _detail(
            request,
            session,
            staff,
            broadcast,
            error=f"「{label}」の配信は承認できません。",
            status_code=409,
        )
    session.commit()
    return redirect(f"/console/broadcasts/{broadcast_id}")


@router.post("/console/broadcasts/{broadcast_id}/send-back", response_class=HTMLResponse)
async def send_back(
    request: Request, broadcast_id: int, session: SessionDep, settings: SettingsDep, staff: Admin
) -> Response:
    """An admin returns a notice awaiting approval to its department as a draft (the
    API's PATCH {"draft": true}), with the reason in the audit log."""
    broadcast = _visible(session, staff, broadcast_id)
    reason = (await request.form()).get("reason")
    reason = reason.strip()[:500] if isinstance(reason, str) else ""
    if broadcast.status != BroadcastStatus.awaiting_approval:
        label = STATUS_LABELS.get(broadcast.status, broadcast.status)
        return _detail(
            request,
            session,
            staff,
            broadcast,
            error=f"「{label}」の配信は差し戻せません。",
            status_code=409,
        )
    now = utcnow()
    try:
        update_broadcast(
            session,
            broadcast,
            staff.actor.label,
            {"draft": True},
            settings,
            get_renderer(request),
            now,
        )
    except (BroadcastRefused, BroadcastConflict):
        session.rollback()
        return _detail(
            request, session, staff, broadcast, error="差し戻せませんでした。", status_code=409
        )
    record(
        session,
        at=now,
        actor=staff.actor.label,
        action="broadcast.send_back",
        entity="broadcast",
        entity_id=broadcast.id,
        department_id=broadcast.department_id,
        after={"reason": reason},
    )
    session.commit()
    return redirect(f"/console/broadcasts/{broadcast_id}")
