"""Every recurring job, wired into APScheduler in one place.

The jobs are plain functions taking `now`; this module only reads the clock and hands it
over, so tests call the functions directly and never wait for a scheduler.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.engine import Engine

from broadcaster import schedule
from broadcaster.clock import utcnow
from broadcaster.garbage.fetch import fetch_due
from broadcaster.garbage.reminders import schedule_reminders
from broadcaster.kpis.insight import fetch_recent
from broadcaster.render import Renderer
from broadcaster.settings import Settings

log = logging.getLogger(__name__)

GARBAGE_REMINDERS_EVERY_MINUTES = 5
CALENDAR_FETCH_EVERY_MINUTES = 15
LINE_STATISTICS_EVERY_MINUTES = 60  # LINE allows 60 insight requests an hour


def _garbage_reminders(engine: Engine, settings: Settings, renderer: Renderer) -> None:
    run = schedule_reminders(engine, settings, renderer, utcnow())
    for problem in run.problems:
        log.warning("garbage reminders: %s", problem)


def _calendar_fetches(engine: Engine, settings: Settings) -> None:
    for outcome in fetch_due(engine, settings, utcnow()):
        log.info("calendar fetch: %s", outcome)


def _line_statistics(engine: Engine, settings: Settings) -> None:
    log.info("LINE statistics: %s", fetch_recent(engine, settings, utcnow()))


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
    if settings.garbage.sources:
        scheduler.add_job(
            _calendar_fetches,
            "interval",
            minutes=CALENDAR_FETCH_EVERY_MINUTES,
            args=(engine, settings),
            id="calendar-fetches",
            **common,
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
