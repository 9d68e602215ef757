"""The FastAPI application: API, webhook, console, and the background work's lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster import console, jobs, outbox, timestamps
from broadcaster.api import ROUTERS, body_limits, problems
from broadcaster.broadcasts import Broadcast
from broadcaster.clock import utcnow
from broadcaster.db import make_engine, pending_migrations
from broadcaster.delivery.gate import EmergencyGate
from broadcaster.delivery.lane import Dispatch, EmergencyLane
from broadcaster.delivery.sending import Sending
from broadcaster.dispatch import Dispatcher, Write, dispatch_broadcast
from broadcaster.dispatch_process import DispatchProcess
from broadcaster.features import register_features
from broadcaster.garbage import reply as garbage_reply
from broadcaster.heap import freeze_long_lived_objects
from broadcaster.outbox import DispatchPlan, DispatchResult
from broadcaster.render import Renderer
from broadcaster.replicas import Coordinator, lease_owner
from broadcaster.settings import Settings

log = logging.getLogger(__name__)


class UnmigratedDatabase(RuntimeError):
    """The schema is behind the code; the message says which command fixes it."""


def ensure_schema(engine: Engine, settings: Settings) -> None:
    pending = pending_migrations(engine)
    if not pending:
        return
    if settings.auto_migrate:
        # Lazy: Alembic stays out of a service whose schema is current (db.pending_migrations).
        from broadcaster.migrate import upgrade

        log.info("applying %d database migration(s)", len(pending))
        upgrade(engine)
        return
    raise UnmigratedDatabase(
        f"the database is not migrated ({len(pending)} migration(s) pending); "
        "run `broadcaster db upgrade` or set auto_migrate = true"
    )


async def warm_routes(app: FastAPI) -> None:
    """Match one request against every API route now, at start.

    FastAPI builds a route's dependency graph the first time a request is matched against
    it; at ~2 ms a route, the first evacuation order after a start stalled the event loop
    (and so every send in flight) for 20-80 ms. A path no route answers walks them all
    and changes nothing.
    """
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/-",
        "raw_path": b"/api/v1/-",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    await app(scope, receive, send)


def in_this_process(gate: EmergencyGate) -> Write:
    """Write a scheduled broadcast's outbox here, yielding to emergencies at the gate."""

    def run(
        session: Session,
        broadcast: Broadcast,
        plan: DispatchPlan,
        now: datetime,
        *,
        on_commit: Callable[[], None] | None = None,
    ) -> DispatchResult:
        return outbox.dispatch(session, broadcast, plan, now, on_commit=on_commit, gate=gate)

    return run


def emergency_dispatch(
    engine: Engine, settings: Settings, renderer: Callable[[], Renderer]
) -> Dispatch:
    """How the emergency lane writes an order's outbox: the one dispatch path, in this
    process, waking the worker as each chunk is committed. `renderer` gives the app's
    renderer at the time of the order."""

    def run(broadcast_id: int, on_commit: Callable[[], None] | None) -> DispatchResult | None:
        return dispatch_broadcast(
            engine, broadcast_id, settings, renderer(), utcnow(), on_commit=on_commit
        )

    return run


def _in(process: DispatchProcess, here: Write) -> Write:
    """Write in the dispatch process once it is up; until then (it imports for seconds
    after a start) `here`, so a notice sent just after a restart does not wait for it."""

    def run(
        session: Session,
        broadcast: Broadcast,
        plan: DispatchPlan,
        now: datetime,
        *,
        on_commit: Callable[[], None] | None = None,
    ) -> DispatchResult:
        if not process.ready:
            return here(session, broadcast, plan, now, on_commit=on_commit)
        # on_commit cannot cross processes: the child rings the worker's doorbell itself.
        assert broadcast.id is not None
        return process.dispatch(broadcast.id, now)

    return run


def follow_leadership(
    scheduler: AsyncIOScheduler, coordinator: Coordinator | None, app: FastAPI
) -> None:
    """Run the scheduler while this replica leads, pause it while it does not. Jobs that
    came due while paused run at once (coalesced) rather than count as missed. A stopping
    service stays paused: a change queued before the stop must not start a job."""
    if coordinator is None or not scheduler.running or app.state.stopping:
        return
    paused = scheduler.state == STATE_PAUSED
    if coordinator.leading and paused:
        now = utcnow()
        for job in scheduler.get_jobs():
            if job.next_run_time is not None and job.next_run_time <= now:
                job.modify(next_run_time=now)
        scheduler.resume()
    elif not coordinator.leading and not paused:
        scheduler.pause()


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    background: bool = True,
    sending: Sending | None = None,
) -> FastAPI:
    """The service. `background=False` leaves the scheduler and senders off (API tests).
    `sending`: the delivery worker already started (by `serve`), which the app adopts and
    stops with itself."""
    engine = engine or make_engine(settings.resolved_database_url)
    renderer = Renderer.from_settings(settings)
    register_features()
    garbage_reply.register(settings)
    dispatcher = Dispatcher(engine, settings, renderer)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ensure_schema(engine, settings)
        renderer.warm()
        await warm_routes(app)
        job_threads = jobs.JobThreads()
        scheduler = AsyncIOScheduler(timezone=settings.tz, executors={"default": job_threads})
        app.state.scheduler = scheduler
        app.state.stopping = False
        running: Sending | None = None
        process: DispatchProcess | None = None
        lane: EmergencyLane | None = None
        coordinator: Coordinator | None = None
        if background:
            # A member before it claims anything: the leader frees the leases of owners
            # that are not (see replicas); only the leader runs the scheduler. (`serve`
            # starts sending before this on SQLite only, where there is one process.)
            loop = asyncio.get_running_loop()

            def leadership_changed(_: bool) -> None:  # on the coordinator's thread
                loop.call_soon_threadsafe(follow_leadership, scheduler, coordinator, app)

            coordinator = Coordinator(engine, lease_owner(settings), leadership_changed)
            app.state.coordinator = coordinator
            await asyncio.to_thread(coordinator.start)
            # Sending resumes first: batches a crash left behind go out before new work.
            running = sending or Sending(engine, settings, EmergencyGate())
            if not running.running:
                await asyncio.to_thread(running.start)
            freeze_long_lived_objects()
            gate = running.gate
            lane = EmergencyLane(
                gate,
                emergency_dispatch(engine, settings, lambda: app.state.renderer),
                wake=running.wake,
            )
            app.state.emergency_lane = lane
            write = in_this_process(gate)
            if settings.scheduling.dispatch_process:
                process = DispatchProcess(settings, gate, running.doorbell)
                process.warm_up()
                app.state.dispatch_process = process
                write = _in(process, write)
            dispatcher.start(write, wake=running.wake)
            jobs.install(scheduler, engine, settings, renderer, write)
            scheduler.start(paused=True)
            follow_leadership(scheduler, coordinator, app)
        try:
            yield
        finally:
            app.state.stopping = True
            jobs.stop_starting_jobs(scheduler)
            if coordinator is not None:
                # Leadership goes at once (not at our death): another replica takes over
                # while our sends in flight finish under our leases (we are still alive).
                await asyncio.to_thread(coordinator.resign)
            # The job in progress finishes before what it writes through is stopped.
            await asyncio.to_thread(job_threads.join)
            await asyncio.to_thread(dispatcher.stop)
            if lane is not None:
                await asyncio.to_thread(lane.close)
            if running is not None:
                await asyncio.to_thread(running.stop)
            if process is not None:
                await asyncio.to_thread(process.close)
            if coordinator is not None:
                await asyncio.to_thread(coordinator.stop)

    app = FastAPI(
        responses=problems.PROBLEM_RESPONSES,
        title="broadcaster",
        summary="Segment-targeted and emergency LINE messages for a city's residents",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    timestamps.use_zone(settings.tz)
    app.state.engine = engine
    app.state.renderer = renderer
    # Call `app.state.dispatcher.dispatch_soon(id)` after committing a broadcast due now,
    # `app.state.emergency_lane.submit(id)` for an emergency. Without background work an
    # order's outbox is written in its request (API tests).
    app.state.dispatcher = dispatcher
    app.state.emergency_lane = EmergencyLane(
        EmergencyGate(),
        emergency_dispatch(engine, settings, lambda: app.state.renderer),
        inline=True,
    )
    for router, prefix in ROUTERS:
        app.include_router(router, prefix=prefix)
    # One error contract (broadcaster.api.problems) and body limits before any work; the
    # console answers its own pages' errors as pages.
    problems.install(app)
    console.install(app)
    body_limits.install(app, settings)
    return app
