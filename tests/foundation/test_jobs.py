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
    order: list[str] = []

    def job() -> str:
        started.set()
        assert release.wait(timeout=60)
        order.append("job finished")
        return "done"

    def join(threads: jobs.JobThreads) -> None:
        threads.join()
        order.append("joined")

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
        joined = asyncio.create_task(asyncio.to_thread(join, threads))
        release.set()  # the job was running when the stop began; now it may finish
        await joined

    with caplog.at_level(logging.INFO):
        asyncio.run(run())
    assert outcomes == [EVENT_JOB_EXECUTED]
    assert order == ["job finished", "joined"]  # the join returned only after the job
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
