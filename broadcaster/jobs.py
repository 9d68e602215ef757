"""Every recurring job, wired into APScheduler in one place.

The jobs are plain functions taking `now`; this module only reads the clock and hands it
over, so tests call the functions directly and never wait for a scheduler.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster import ledger, outbox, schedule
from broadcaster.clock import utcnow
from broadcaster.db import session_scope
from broadcaster.dispatch import Write
from broadcaster.emergency import feeds as alert_feeds
from broadcaster.garbage.fetch import fetch_due
from broadcaster.garbage.models import CollectionDay
from broadcaster.garbage.reminders import schedule_reminders
from broadcaster.kpis import friend_figures
from broadcaster.render import Renderer
from broadcaster.settings import Settings

log = logging.getLogger(__name__)

GARBAGE_REMINDERS_EVERY_MINUTES = 5
CALENDAR_FETCH_EVERY_MINUTES = 15
LINE_STATISTICS_EVERY_MINUTES = 60  # LINE allows 60 insight requests an hour
LEDGER_EVERY_SECONDS = 5
RETENTION_EVERY_HOURS = 6


class JobThreads(ThreadPoolExecutor):  # type: ignore[misc]  # APScheduler is untyped
    """APScheduler's thread pool executor, with a `join` for a stopping service.

    APScheduler's default asyncio executor runs a plain function on the event loop's
    default threads and, at shutdown, cancels the future it awaits: the job goes on running
    on its thread while APScheduler logs it as failed (a CancelledError traceback at every
    stop that falls in a tick). Here a stop first stops the scheduler starting jobs, then
    `join`s: the job in progress finishes, and nothing is reported that did not happen.
    """

    def __init__(self, workers: int = 10) -> None:
        super().__init__(workers, {"thread_name_prefix": "job"})

    def join(self) -> None:
        """Wait for the jobs in progress (call once the scheduler no longer starts any)."""
        self._pool.shutdown(wait=True)


def stop_starting_jobs(scheduler: AsyncIOScheduler) -> None:
    """Stop `scheduler` starting jobs, at once (on its loop); APScheduler runs the shutdown
    itself later, on the loop. The jobs in progress go on: `JobThreads.join` waits for them."""
    if scheduler.running:
        scheduler.pause()
        scheduler.shutdown(wait=False)


def has_calendar(engine: Engine) -> bool:
    """Whether any zone's calendar has been imported.

    Until one has, there is nothing to remind anyone of, and a missing garbage department
    is not yet a problem: a fresh install must start without an error repeated every few
    minutes (the calendar import is where the missing department is reported).
    """
    with Session(engine) as session:
        return session.exec(select(CollectionDay.id).limit(1)).first() is not None


def _garbage_reminders(engine: Engine, settings: Settings, renderer: Renderer) -> None:
    if not has_calendar(engine):
        return
    run = schedule_reminders(engine, settings, renderer, utcnow())
    for problem in run.problems:
        log.warning("garbage reminders: %s", problem)


def _ledger(engine: Engine) -> None:
    """Write finished broadcasts' delivery rows from their batches, a bounded run at a
    time (see `ledger`); runs again at once while there is a backlog."""
    while ledger.record_backlog(engine, utcnow()):
        pass
def _retention(engine: Engine, settings: Settings) -> None:
    # Retention loads its tables only when it runs (every 6 hours).
    from broadcaster.retention import prune

    with session_scope(engine) as session:
        pruned = prune(session, settings.retention, utcnow())
    if pruned.deliveries or pruned.webhook_events:
        log.info(
            "retention: removed %d delivery row(s), emptied %d batch recipient list(s), "
            "forgot %d webhook event id(s)",
            pruned.deliveries, pruned.batches, pruned.webhook_events,
        )


def _calendar_fetches(engine: Engine, settings: Settings) -> None:
    for outcome in fetch_due(engine, settings, utcnow()):
        log.info("calendar fetch: %s", outcome)


def _friend_figures(engine: Engine, settings: Settings) -> None:
    with session_scope(engine) as session:
        friend_figures.tally(session, utcnow(), settings.tz)


def _line_statistics(engine: Engine, settings: Settings) -> None:
    # Lazy: the SDK's insight client (3 MB resident) only on the leader, from its first
    # hourly run; a replica that never leads never loads it.
    from broadcaster.kpis.insight import fetch_recent

    log.info("LINE statistics: %s", fetch_recent(engine, settings, utcnow()))


def install(
    scheduler: BaseScheduler,
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    write: Write = outbox.dispatch,
) -> None:
    """Add every job (call before `scheduler.start()`); each runs once at start too."""
    schedule.install(scheduler, engine, settings, renderer, write)
    common: dict[str, Any] = {
        "replace_existing": True,
        "max_instances": 1,
        "coalesce": True,
        "next_run_time": utcnow(),
    }
    scheduler.add_job(
        _ledger,
        "interval",
        seconds=LEDGER_EVERY_SECONDS,
        args=(engine,),
        id="ledger",
        **common,
    )
    scheduler.add_job(
        _garbage_reminders,
        "interval",
        minutes=GARBAGE_REMINDERS_EVERY_MINUTES,
        args=(engine, settings, renderer),
        id="garbage-reminders",
        **common,
    )
    # Alert feeds (JMA Atom): emergency.feeds; the job lives with the feeds.
    alert_feeds.install(scheduler, engine, settings)
    scheduler.add_job(
        _retention,
        "interval",
        hours=RETENTION_EVERY_HOURS,
        args=(engine, settings),
        id="retention",
        **common,
    )
    if settings.garbage.sources:
        scheduler.add_job(
            _calendar_fetches,
            "interval",
            minutes=CALENDAR_FETCH_EVERY_MINUTES,
            args=(engine, settings),
            id="calendar-fetches",
            **common,
        )
    # The friends figures the residents and KPI pages read (kpis.friend_figures), first a
    # minute after start: a restart's first seconds belong to sending (a resumed order),
    # and until the first tally the pages compute the figures themselves.
    scheduler.add_job(
        _friend_figures,
        "interval",
        minutes=friend_figures.EVERY_MINUTES,
        args=(engine, settings),
        id="friend-figures",
        **{**common, "next_run_time": utcnow() + timedelta(minutes=1)},
    )
    # KPIs (issue 14): LINE's per-broadcast open/click figures and follower count, first
    # an hour after start (not at once: a restart must not spend the hour's requests).
    scheduler.add_job(
        _line_statistics,
        "interval",
        minutes=LINE_STATISTICS_EVERY_MINUTES,
        args=(engine, settings),
        id="line-statistics",
        **{**common, "next_run_time": utcnow() + timedelta(minutes=LINE_STATISTICS_EVERY_MINUTES)},
    )
