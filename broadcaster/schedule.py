"""The schedule: what is due is sent, what is too late expires. The rows are the truth.

APScheduler is only a clock here: one interval job (every `scheduling.tick_seconds`) calls
`dispatch_due`, which reads the broadcast table. Nothing about a broadcast lives in a job
store, so a restart needs nothing but the database: a broadcast that came due while the
service was down is sent if it is at most `max_lateness_minutes` late, and otherwise
expired with the reason stored (and audited), never sent late.

A broadcast is claimed with a conditional UPDATE (scheduled -> sending) whose row count
decides who sends it, so an emergency dispatched by its creator and a tick can never both
send it. A recurring broadcast, when its occurrence fires or expires, gets its next
occurrence as a new row in the same transaction as the claim.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcaster import quiet_hours
from broadcaster.broadcasting import audit_change, snapshot
from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.clock import utcnow
from broadcaster.db import table_of
from broadcaster.dispatcher import HeldByQuietHours, ignores_quiet_hours, plan_for
from broadcaster.outbox import DispatchPlan, DispatchResult, dispatch, resume_dispatches
from broadcaster.recurrence import RecurrenceError, next_time
from broadcaster.render import MessageLimitError, Renderer, TemplateError
from broadcaster.settings import Settings

# Writes a claimed broadcast's outbox (in this process, or in the dispatch process).
RunDispatch = Callable[[Session, Broadcast, DispatchPlan, datetime], DispatchResult]

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "scheduler"
JOB_ID = "broadcaster.schedule.tick"
# A recurrence whose every firing lands in quiet hours must not loop forever.
MAX_QUIET_SKIPS = 400


def claim(session: Session, broadcast_id: int, now: datetime) -> bool:
    """scheduled -> sending, if nobody else got there first."""
    table = table_of(Broadcast)
    result = session.connection().execute(
        sa.update(table)
        .where(table.c.id == broadcast_id, table.c.status == BroadcastStatus.scheduled.value)
        .values(status=BroadcastStatus.sending.value, started_at=now, updated_at=now)
    )
    return result.rowcount == 1


def next_occurrence(
    session: Session, broadcast: Broadcast, settings: Settings, now: datetime
) -> Broadcast | None:
    """Add the row for the next firing of a recurring broadcast (None if it has none).

    The next time is after the later of this occurrence and the oldest still-sendable
    moment, so a long outage creates one row, not one per missed firing. Firings inside
    quiet hours are skipped for non-emergency broadcasts.
    """
    if not broadcast.recurrence:
        return None
    lateness = timedelta(minutes=settings.scheduling.max_lateness_minutes)
    after = max(broadcast.send_at, now - lateness)
    try:
        when = next_time(broadcast.recurrence, after, settings.tz)
        for _ in range(MAX_QUIET_SKIPS):
            if when is None or ignores_quiet_hours(broadcast):
                break
            if not quiet_hours.in_quiet_hours(when, settings.quiet_hours, settings.tz):
                break
            when = next_time(broadcast.recurrence, when, settings.tz)
        else:
            when = None
    except RecurrenceError:
        when = None
    if when is None:
        return None
    series = (broadcast.source or {}).get("occurrence_of", broadcast.id)
    fields = broadcast.model_dump(
        exclude={
            "id",
            "status",
            "send_at",
            "created_at",
            "updated_at",
            "dispatched_at",
            "started_at",
            "finished_at",
            "renderings",
            "recipients_total",
            "skipped_over_cap",
            "quota_consumed",
            "status_reason",
            "source",
        }
    )
    following = Broadcast(
        **fields,
        status=BroadcastStatus.scheduled,
        send_at=when,
        source={**(broadcast.source or {}), "occurrence_of": series},
        created_at=now,
        updated_at=now,
    )
    session.add(following)
    session.flush()
    audit_change(session, following, "broadcast.recur", actor=SYSTEM_ACTOR, now=now)
    return following


def expire(
    session: Session, broadcast: Broadcast, reason: str, settings: Settings, now: datetime
) -> bool:
    """scheduled -> expired with `reason` (audited), if still scheduled. The caller commits."""
    before = snapshot(broadcast)
    table = table_of(Broadcast)
    won = (
        session.connection()
        .execute(
            sa.update(table)
            .where(table.c.id == broadcast.id, table.c.status == BroadcastStatus.scheduled.value)
            .values(
                status=BroadcastStatus.expired.value,
                status_reason=reason,
                finished_at=now,
                updated_at=now,
            )
        )
        .rowcount
    )
    if won != 1:
        return False
    session.refresh(broadcast)
    audit_change(session, broadcast, "broadcast.expire", actor=SYSTEM_ACTOR, now=now, before=before)
    next_occurrence(session, broadcast, settings, now)
    return True


def _duration(value: timedelta) -> str:
    minutes, seconds = divmod(int(value.total_seconds()), 60)
    return f"{minutes} min" + (f" {seconds} s" if seconds else "")


def _late_reason(broadcast: Broadcast, settings: Settings, now: datetime) -> str | None:
    late = now - broadcast.send_at
    allowed = timedelta(minutes=settings.scheduling.max_lateness_minutes)
    if late <= allowed:
        return None
    due = broadcast.send_at.astimezone(settings.tz)
    return (
        f"not sent: due {due:%Y-%m-%d %H:%M} JST, {_duration(late)} late "
        f"(more than max_lateness_minutes = {settings.scheduling.max_lateness_minutes:g})"
    )


def in_this_process(
    session: Session, broadcast: Broadcast, plan: DispatchPlan, now: datetime
) -> DispatchResult:
    return dispatch(session, broadcast, plan, now)


def send_one(
    engine: Engine,
    broadcast_id: int,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    run_dispatch: RunDispatch = in_this_process,
) -> bool:
    """Send one due broadcast now, or expire it; True if this call dispatched it.

    Used by the tick and by whoever creates an emergency (to send it without waiting for a
    tick). A broadcast someone else already claimed is left alone. `run_dispatch` writes the
    outbox (the service hands it to its dispatch process).
    """
    with Session(engine, expire_on_commit=False) as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.status != BroadcastStatus.scheduled:
            return False
        if broadcast.send_at > now:
            return False
        reason = _late_reason(broadcast, settings, now)
        quiet = quiet_hours.in_quiet_hours(now, settings.quiet_hours, settings.tz)
        if reason is None and quiet and not ignores_quiet_hours(broadcast):
            window = quiet_hours.window_label(settings.quiet_hours)
            reason = f"not sent: came due in quiet hours {window}"
        if reason is not None:
            expire(session, broadcast, reason, settings, now)
            session.commit()
            log.warning("broadcast %s expired: %s", broadcast_id, reason)
            return False
        from broadcaster.digest import fold_if_marked

        if fold_if_marked(session, broadcast, settings, now):
            next_occurrence(session, broadcast, settings, now)
            session.commit()
            return False
        try:
            plan = plan_for(session, broadcast, settings, renderer, now)
        except (TemplateError, MessageLimitError, HeldByQuietHours, ValueError) as exc:
            expire(session, broadcast, f"not sent: {exc}", settings, now)
            session.commit()
            log.error("broadcast %s could not be planned: %s", broadcast_id, exc)
            return False
        if not claim(session, broadcast_id, now):
            session.rollback()
            return False
        next_occurrence(session, broadcast, settings, now)
        audit_change(session, broadcast, "broadcast.dispatch", actor=SYSTEM_ACTOR, now=now)
        session.commit()
        session.refresh(broadcast)
        result = run_dispatch(session, broadcast, plan, now)
        log.info(
            "broadcast %s dispatched: %d recipients in %d batches, %d over cap",
            broadcast_id,
            result.recipients,
            result.batches,
            result.skipped_over_cap,
        )
        return True


def due_ids(engine: Engine, now: datetime) -> list[int]:
    """Scheduled broadcasts whose time has come, emergencies first, oldest first."""
    with Session(engine) as session:
        rows = session.exec(
            select(Broadcast.id)
            .where(Broadcast.status == BroadcastStatus.scheduled, col(Broadcast.send_at) <= now)
            .order_by(col(Broadcast.priority).desc(), col(Broadcast.send_at), col(Broadcast.id))
        ).all()
    return [row for row in rows if row is not None]


def dispatch_due(
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    run_dispatch: RunDispatch = in_this_process,
) -> int:
    """Send everything due at `now`, expire what is too late; returns how many were sent.

    One broadcast's failure is logged and does not stop the others.
    """
    sent = 0
    for broadcast_id in due_ids(engine, now):
        try:
            sent += send_one(engine, broadcast_id, settings, renderer, now, run_dispatch)
        except Exception:
            log.exception("broadcast %s: dispatch failed; it will be retried", broadcast_id)
    return sent


def resume_interrupted(
    engine: Engine, renderer: Renderer, settings: Settings, now: datetime
) -> int:
    """Finish dispatches a crash interrupted (sending, never fully dispatched). At start only:
    the outbox's rerun writes only what is missing."""

    def plan(session: Session, broadcast: Broadcast) -> DispatchPlan:
        try:
            return plan_for(session, broadcast, settings, renderer, now)
        except HeldByQuietHours:
            return _plan_ignoring_quiet_hours(session, broadcast, settings, renderer, now)

    return resume_dispatches(engine, plan, now)


def _plan_ignoring_quiet_hours(
    session: Session, broadcast: Broadcast, settings: Settings, renderer: Renderer, now: datetime
) -> DispatchPlan:
    # Part of it is already queued; finishing what was released before quiet hours began
    # is the lesser harm than a broadcast half sent until morning.
    loud = settings.model_copy(
        update={"quiet_hours": settings.quiet_hours.model_copy(update={"enabled": False})}
    )
    return plan_for(session, broadcast, loud, renderer, now)


def tick(
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    run_dispatch: RunDispatch = in_this_process,
) -> int:
    """The scheduler's job: read the clock once, then run the plain functions."""
    from broadcaster.digest import dispatch_digests

    now = utcnow()
    sent = dispatch_due(engine, settings, renderer, now, run_dispatch)
    try:
        sent += dispatch_digests(engine, settings, renderer, now)
    except Exception:
        log.exception("digest dispatch failed; it will be retried")
    return sent


def install(
    scheduler: Any,
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    run_dispatch: RunDispatch = in_this_process,
) -> None:
    """Wire the schedule into an APScheduler scheduler (call before `scheduler.start()`).

    Also resumes dispatches a crash interrupted. The job is an interval tick; rows are
    the truth, so the scheduler needs no job store.
    """
    try:
        resume_interrupted(engine, renderer, settings, utcnow())
    except Exception:
        log.exception("resuming interrupted dispatches failed; continuing")
    scheduler.add_job(
        tick,
        "interval",
        seconds=settings.scheduling.tick_seconds,
        args=(engine, settings, renderer, run_dispatch),
        id=JOB_ID,
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=utcnow(),
    )


__all__ = [
    "dispatch_due",
    "expire",
    "install",
    "next_occurrence",
    "resume_interrupted",
    "send_one",
    "tick",
]
