"""The one dispatch path: claim, plan, write the outbox. Every kind of broadcast takes it.

The scheduler's tick, an evacuation order, a benefit notice, a digest and a garbage
reminder all call `dispatch_broadcast`, so they all do the same three steps in the same
order:

1. **Claim** (scheduled -> sending, a conditional update whose row count decides), after
   the checks that may stop it instead: too late or due inside quiet hours -> expired;
   held by a feature (the digest folds it) -> not sent. Whoever loses the claim does
   nothing, so a tick and an emergency desk racing for one broadcast send it once.
2. **Plan** (who, what, who is over cap). A plan that cannot be made (a template removed
   since, a rule the database refuses to run) ends the broadcast `failed` with the
   reason, for staff to see; it is never left `sending`.
3. **Write** the outbox (`outbox.dispatch`, or the dispatch process's copy of it).

`Dispatcher` is the service's handle on this path: `dispatch_soon` runs it off the
request thread for a broadcast created "now", so it goes out at once, not at the next
tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from broadcaster import lifecycle, outbox, policies, quiet_hours, replicas
from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.clock import utcnow
from broadcaster.db import table_of
from broadcaster.outbox import DispatchPlan, DispatchResult
from broadcaster.planning import held_by_quiet_hours, plan_for
from broadcaster.render import Renderer
from broadcaster.series import next_occurrence
from broadcaster.settings import Settings
from segments.residents import Resident

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "scheduler"
# Driver messages of errors that pass: the same dispatch succeeds when run again.
TRANSIENT = ("database is locked", "deadlock", "could not serialize", "timeout", "connection")


class Write(Protocol):
    """Writes a claimed broadcast's outbox (`outbox.dispatch`, in this process or in the
    dispatch process)."""

    def __call__(
        self,
        session: Session,
        broadcast: Broadcast,
        plan: DispatchPlan,
        now: datetime,
        *,
        on_commit: Callable[[], None] | None = None,
    ) -> DispatchResult: ...


def _duration(value: timedelta) -> str:
    minutes, seconds = divmod(int(value.total_seconds()), 60)
    return f"{minutes} min" + (f" {seconds} s" if seconds else "")


def late_reason(broadcast: Broadcast, settings: Settings, now: datetime) -> str | None:
    """Why a due broadcast is too late to send, or None."""
    late = now - broadcast.send_at
    allowed = timedelta(minutes=settings.scheduling.max_lateness_minutes)
    if late <= allowed:
        return None
    due = broadcast.send_at.astimezone(settings.tz)
    return (
        f"not sent: due {due:%Y-%m-%d %H:%M} JST, {_duration(late)} late "
        f"(more than max_lateness_minutes = {settings.scheduling.max_lateness_minutes:g})"
    )


def _quiet_reason(quiet: bool, settings: Settings) -> str | None:
    if not quiet:
        return None
    return f"not sent: came due in quiet hours {quiet_hours.window_label(settings.quiet_hours)}"


def probe(session: Session, plan: DispatchPlan) -> None:
    """Have the database compile the plan's queries without running them, so a rule it
    refuses (SQLite: "Expression tree is too large", too many SQL variables) fails the
    plan before anything is written. `0 = 1` makes the query itself free."""
    resident = table_of(Resident)
    where = [plan.audience] + ([plan.over_cap] if plan.over_cap is not None else [])
    never = sa.literal_column("0") == sa.literal_column("1")
    session.connection().execute(sa.select(resident.c.id).where(never, *where).limit(1))


def transient(exc: BaseException) -> bool:
    """Whether a database error will likely pass (then the dispatch is left to resume)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    text = str(exc).lower()
    return isinstance(exc, sa.exc.OperationalError) and any(word in text for word in TRANSIENT)


def _fail(session: Session, broadcast: Broadcast, reason: str, now: datetime) -> None:
    session.rollback()
    session.refresh(broadcast)
    if lifecycle.fail(session, broadcast, reason[:2000], actor=SYSTEM_ACTOR, now=now):
        log.error("broadcast %s failed: %s", broadcast.id, reason)
    session.commit()


def dispatch_broadcast(
    engine: Engine | Connection,
    broadcast_id: int,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    *,
    write: Write = outbox.dispatch,
    on_commit: Callable[[], None] | None = None,
    resume: bool = False,
) -> DispatchResult | None:
    """Claim, plan and write the broadcast's outbox if it is due at `now`.

    Returns what was written, or None when this call dispatched nothing (not due, someone
    else claimed it, it expired, a feature held it, or it failed). `resume`: also finish
    a dispatch a crash interrupted (sending, not fully written), without a new claim and
    minding quiet hours no more (what was released is finished). `on_commit` is called
    as each chunk of batches is committed (to wake a sender).
    """
    with Session(engine, expire_on_commit=False) as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None:
            return None
        interrupted = (
            broadcast.status == BroadcastStatus.sending and broadcast.dispatched_at is None
        )
        if resume and interrupted:
            # Only a dead writer's dispatch (or an expired lease): never one another
            # replica is still writing.
            if not replicas.take_over_dispatch(
                session.connection(), broadcast_id, replicas.lease_owner(settings), now
            ):
                session.rollback()
                return None
            session.commit()
            return _plan_and_write(session, broadcast, settings, renderer, now, write, on_commit)
        if broadcast.status != BroadcastStatus.scheduled or broadcast.send_at > now:
            return None
        # Before lateness: a broadcast a feature defers waits (held), it does not expire.
        if deferred := policies.deferral_reason(session, broadcast, settings, now):
            if lifecycle.hold(session, broadcast, deferred, actor=SYSTEM_ACTOR, now=now):
                log.info("broadcast %s held: %s", broadcast_id, deferred)
            session.commit()
            return None
        quiet = held_by_quiet_hours(broadcast, settings, now)
        if not policies.policy_for(broadcast.kind).expires:
            if quiet:
                return None  # it waits for the end of quiet hours: it was promised
        elif reason := late_reason(broadcast, settings, now) or _quiet_reason(quiet, settings):
            if lifecycle.expire(session, broadcast, reason, actor=SYSTEM_ACTOR, now=now):
                next_occurrence(session, broadcast, settings, now, actor=SYSTEM_ACTOR)
                log.warning("broadcast %s expired: %s", broadcast_id, reason)
            session.commit()
            return None
        hold = policies.hold()
        if hold is not None and hold.take(session, broadcast, settings, now):
            next_occurrence(session, broadcast, settings, now, actor=SYSTEM_ACTOR)
            session.commit()
            return None
        if not lifecycle.claim(session, broadcast_id, now):
            session.rollback()
            return None
        replicas.lease_dispatch(
            session.connection(), broadcast_id, replicas.lease_owner(settings), now
        )
        session.refresh(broadcast)
        next_occurrence(session, broadcast, settings, now, actor=SYSTEM_ACTOR)
        lifecycle.audit_change(
            session, broadcast, "broadcast.dispatch", actor=SYSTEM_ACTOR, now=now
        )
        session.commit()
        return _plan_and_write(session, broadcast, settings, renderer, now, write, on_commit)


def _plan_and_write(
    session: Session,
    broadcast: Broadcast,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
    write: Write,
    on_commit: Callable[[], None] | None,
) -> DispatchResult | None:
    try:
        # Claimed (or resumed): quiet hours were minded before the claim.
        plan = plan_for(session, broadcast, settings, renderer, now, mind_quiet_hours=False)
        probe(session, plan)
    except Exception as exc:
        # Whatever stops a plan stops it every time: say why rather than retry forever.
        if transient(exc):
            raise
        _fail(session, broadcast, f"not sent: the dispatch could not be planned: {exc}", now)
        return None
    session.commit()
    try:
        result = write(session, broadcast, plan, now, on_commit=on_commit)
    except (sa.exc.DBAPIError, ValueError) as exc:
        if transient(exc):
            raise  # left `sending`: the dispatch resumes at the next start
        detail = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        # Batches committed before the failure are still sent; the rest never will be.
        _fail(
            session, broadcast, f"dispatch stopped: the outbox could not be written: {detail}", now
        )
        return None
    log.info(
        "broadcast %s dispatched: %d recipients in %d batches, %d over cap",
        broadcast.id,
        result.recipients,
        result.batches,
        result.skipped_over_cap,
    )
    return result


class Dispatcher:
    """The service's handle on the dispatch path (`app.state.dispatcher`).

    (Emergencies take the emergency lane, `delivery.lane`.) `dispatch_soon` hands it to one
    background thread, writing where the service writes outboxes (the dispatch process
    when enabled), and returns at once: a request never waits for an outbox. Until
    `start` (API tests, background work off) `dispatch_soon` does nothing and the
    scheduler's tick sends the broadcast.
    """

    def __init__(self, engine: Engine, settings: Settings, renderer: Renderer) -> None:
        self.engine = engine
        self.settings = settings
        self.renderer = renderer
        self.write: Write = outbox.dispatch
        self.wake: Callable[[], None] | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self, write: Write = outbox.dispatch, wake: Callable[[], None] | None = None) -> None:
        """Dispatch with `write` from now on, calling `wake` (the worker's, thread-safe) as
        each chunk is committed in this process."""
        self.write = write
        self.wake = wake
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dispatch")

    def _dispatch(self, broadcast_id: int) -> DispatchResult | None:
        return dispatch_broadcast(
            self.engine,
            broadcast_id,
            self.settings,
            self.renderer,
            utcnow(),
            write=self.write,
            on_commit=self.wake,
        )

    def dispatch_soon(self, broadcast_id: int) -> Future[DispatchResult | None] | None:
        """Dispatch in the background (after the caller committed the broadcast)."""
        if self._pool is None:
            return None
        future = self._pool.submit(self._dispatch, broadcast_id)
        future.add_done_callback(_log_failure(broadcast_id))
        return future

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _log_failure(broadcast_id: int) -> Callable[[Future[DispatchResult | None]], None]:
    def done(future: Future[DispatchResult | None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.error(
                "broadcast %s: dispatch failed; the tick will retry or resume it",
                broadcast_id,
                exc_info=future.exception(),
            )

    return done
