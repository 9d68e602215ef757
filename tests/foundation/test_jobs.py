"""A service that stops while a job runs lets the job finish and reports nothing false.

APScheduler's own asyncio executor cancelled a running job's future at shutdown and logged
the job as failed (a CancelledError traceback) while it went on running on its thread; CI's
first-run test caught that line in `serve`'s log."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED

from broadcaster import jobs


def test_a_stop_lets_the_job_in_progress_finish_and_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, release = threading.Event(), threading.Event()
    outcomes: list[int] = []

    def job() -> str:
        started.set()
        assert release.wait(timeout=60)
        return "done"

    async def run() -> None:
        threads = jobs.JobThreads()
        scheduler = AsyncIOScheduler(executors={"default": threads})
        scheduler.add_listener(
            lambda event: outcomes.append(event.code), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
        )
        scheduler.add_job(job, "date", id="job")  # a date trigger without a date: now
        scheduler.start()
        assert await asyncio.to_thread(started.wait, 60)

        jobs.stop_starting_jobs(scheduler)
        assert scheduler.state == STATE_PAUSED
        joined = asyncio.create_task(asyncio.to_thread(threads.join))
        await asyncio.sleep(0)  # one turn of the loop: APScheduler's shutdown runs
        assert not joined.done()  # the job is still running: join waits for it
        release.set()
        await joined

    with caplog.at_level(logging.INFO):
        asyncio.run(run())
    assert outcomes == [EVENT_JOB_EXECUTED]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
