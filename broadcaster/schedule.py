"""The schedule: what is due is dispatched, what is too late expires. The rows are the truth.

APScheduler is only a clock here: one interval job (every `scheduling.tick_seconds`) calls
`dispatch_due`, which reads the broadcast table. Nothing about a broadcast lives in a job
store, so a restart needs nothing but the database: a broadcast that came due while the
service was down is sent if it is at most `max_lateness_minutes` late, and otherwise
expired with the reason stored (and audited), never sent late.

Each due broadcast goes through the one dispatch path (`broadcaster.dispatch`): claim,
plan, write. Features add their own work to the tick by registering it
(`policies.register_tick`, e.g. the digest's gathering).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcaster import outbox, policies, replicas
from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.clock import utcnow
from broadcaster.dispatch import Write, dispatch_broadcast
from broadcaster.render import Renderer
from broadcaster.settings import Settings

log = logging.getLogger(__name__)

JOB_ID = "broadcaster.schedule.tick"
RESUME_JOB_ID = "broadcaster.schedule.resume"
RESUME_SECONDS = 1.0


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
    write: Write = outbox.dispatch,
) -> int:
    """Dispatch everything due at `now`, expire what is too late; returns how many were
    dispatched. One broadcast's failure is logged and does not stop the others.
    """
    sent = 0
    for broadcast_id in due_ids(engine, now):
        try:
            result = dispatch_broadcast(engine, broadcast_id, settings, renderer, now, write=write)
            sent += result is not None
        except Exception:
            log.exception("broadcast %s: dispatch failed; it will be retried", broadcast_id)
    return sent


def resume_interrupted(
    engine: Engine,
    renderer: Renderer,
    settings: Settings,
    now: datetime,
    write: Write = outbox.dispatch,
) -> int:
    """Finish dispatches a crash interrupted (sending, never fully dispatched) whose writer
    is no longer alive (see `replicas`), emergencies first: the outbox's rerun writes only
    what is missing. Returns how many were resumed."""
    with Session(engine) as session:
        ids = session.exec(
            select(Broadcast.id)
            .where(replicas.resumable(session.connection(), now))
            .order_by(col(Broadcast.priority).desc(), col(Broadcast.id))
        ).all()
    resumed = 0
    for broadcast_id in ids:
        assert broadcast_id is not None
        try:
            result = dispatch_broadcast(
                engine, broadcast_id, settings, renderer, now, write=write, resume=True
            )
        except Exception:
            log.exception("broadcast %s: resuming its dispatch failed", broadcast_id)
            continue
        resumed += result is not None
    return resumed


def _resume(engine: Engine, renderer: Renderer, settings: Settings, write: Write) -> None:
    try:
        resume_interrupted(engine, renderer, settings, utcnow(), write)
    except Exception:
        log.exception("resuming interrupted dispatches failed; it will be retried")


def tick(
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    write: Write = outbox.dispatch,
) -> int:
    """The scheduler's job: read the clock once, then run the plain functions."""
    now = utcnow()
    sent = dispatch_due(engine, settings, renderer, now, write)
    for feature_tick in policies.ticks():
        try:
            sent += feature_tick(engine, settings, renderer, now)
        except Exception:
            log.exception(
                "%s failed; it will be retried", getattr(feature_tick, "__name__", "tick")
            )
    return sent


def install(
    scheduler: Any,
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    write: Write = outbox.dispatch,
) -> None:
    """Wire the schedule into an APScheduler scheduler (call before `scheduler.start()`).

    Also resumes dispatches a crash interrupted, at once and then every RESUME_SECONDS
    (a replica that died mid-dispatch is resumed by the leader, whoever that is), on the
    scheduler's thread, never on the event loop, where a resumed city-wide outbox held up
    the sending of everything else for seconds. The job is an interval tick; rows are the
    truth, so the scheduler needs no job store.
    """
    scheduler.add_job(
        _resume,
        "interval",
        seconds=RESUME_SECONDS,
        args=(engine, renderer, settings, write),
        id=RESUME_JOB_ID,
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        next_run_time=utcnow(),
    )
    scheduler.add_job(
        tick,
        "interval",
        seconds=settings.scheduling.tick_seconds,
        args=(engine, settings, renderer, write),
        id=JOB_ID,
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=utcnow(),
    )


__all__ = ["dispatch_due", "due_ids", "install", "resume_interrupted", "tick"]
