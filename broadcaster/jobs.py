"""Every recurring job, wired into APScheduler in one place.

The jobs are plain functions taking `now`; this module only reads the clock and hands it
over, so tests call the functions directly and never wait for a scheduler.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.engine import Engine

from broadcaster import schedule
from broadcaster.clock import utcnow
from broadcaster.db import session_scope
from broadcaster.garbage.fetch import fetch_due
from broadcaster.garbage.reminders import schedule_reminders
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from broadcaster.webhook_events import prune_webhook_events

log = logging.getLogger(__name__)

GARBAGE_REMINDERS_EVERY_MINUTES = 5
CALENDAR_FETCH_EVERY_MINUTES = 15
WEBHOOK_PRUNE_EVERY_HOURS = 6
# LINE redelivers a failed webhook within hours (count and interval undisclosed); a week
# of remembered event ids covers any redelivery many times over.
WEBHOOK_EVENT_RETENTION = timedelta(days=7)


def _garbage_reminders(engine: Engine, settings: Settings, renderer: Renderer) -> None:
    run = schedule_reminders(engine, settings, renderer, utcnow())
    for problem in run.problems:
        log.warning("garbage reminders: %s", problem)


def _calendar_fetches(engine: Engine, settings: Settings) -> None:
    for outcome in fetch_due(engine, settings, utcnow()):
        log.info("calendar fetch: %s", outcome)


def prune_webhook_event_ids(engine: Engine, now: datetime) -> int:
    """Forget webhook event ids older than WEBHOOK_EVENT_RETENTION; returns how many."""
    with session_scope(engine) as session:
        return prune_webhook_events(session, older_than=now - WEBHOOK_EVENT_RETENTION)


def _webhook_prune(engine: Engine) -> None:
    pruned = prune_webhook_event_ids(engine, utcnow())
    if pruned:
        log.info("webhook: forgot %d event id(s)", pruned)


def install(
    scheduler: BaseScheduler,
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    run_dispatch: schedule.RunDispatch = schedule.in_this_process,
) -> None:
    """Add every job (call before `scheduler.start()`); each runs once at start too."""
    schedule.install(scheduler, engine, settings, renderer, run_dispatch)
    common: dict[str, Any] = {
        "replace_existing": True,
        "max_instances": 1,
        "coalesce": True,
        "next_run_time": utcnow(),
    }
    scheduler.add_job(
        _garbage_reminders,
        "interval",
        minutes=GARBAGE_REMINDERS_EVERY_MINUTES,
        args=(engine, settings, renderer),
        id="garbage-reminders",
        **common,
    )
    scheduler.add_job(
        _webhook_prune,
        "interval",
        hours=WEBHOOK_PRUNE_EVERY_HOURS,
        args=(engine,),
        id="webhook-prune",
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
