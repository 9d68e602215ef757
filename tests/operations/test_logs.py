"""Logs an operator can read: quiet when idle, one time zone, JSON on request."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from broadcaster.app import create_app
from broadcaster.logs import configure_logging
from tests.conftest import make_settings

TICKS = 40  # at 20 a second: two seconds of a service that ticks once a second


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("apscheduler", "httpx")}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_an_idle_service_writes_nothing_while_its_scheduler_ticks(
    tmp_path: Path, engine: Engine, restore_logging: None
) -> None:
    settings = make_settings(
        tmp_path,
        **{"scheduling.tick_seconds": 0.05, "scheduling.dispatch_process": False},
    )
    configure_logging("info", "text", settings.tz)
    captured = Captured()
    logging.getLogger().addHandler(captured)
    app = create_app(settings, engine=engine)
    ticks: list[str] = []
    with TestClient(app):
        scheduler = app.state.scheduler

        def count(event: JobExecutionEvent) -> None:
            ticks.append(event.job_id)

        scheduler.add_listener(count, EVENT_JOB_EXECUTED)
        started = len(captured.records)
        deadline = time.monotonic() + 30
        while len(ticks) < TICKS and time.monotonic() < deadline:
            time.sleep(0.05)
        idle = captured.records[started:]
    assert len(ticks) >= TICKS, "the scheduler did not tick"
    assert [r.getMessage() for r in idle] == []


def test_lines_show_the_citys_time_with_its_offset(restore_logging: None) -> None:
    from zoneinfo import ZoneInfo

    handler = configure_logging("info", "text", ZoneInfo("Asia/Tokyo"))
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("broadcaster.test").info("dispatched broadcast 7 to 120 residents")
    line = stream.getvalue().strip()
    assert line.split(" ", 1)[0].endswith("+09:00"), line
    assert line.endswith("INFO broadcaster.test: dispatched broadcast 7 to 120 residents")


def test_json_format_writes_one_object_a_line_with_extra_fields(restore_logging: None) -> None:
    from zoneinfo import ZoneInfo

    handler = configure_logging("info", "json", ZoneInfo("Asia/Tokyo"))
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("broadcaster.test").warning("batch failed", extra={"batch_id": 12})
    entry = json.loads(stream.getvalue())
    assert entry["level"] == "warning" and entry["message"] == "batch failed"
    assert entry["batch_id"] == 12 and entry["time"].endswith("+09:00")


def test_library_chatter_is_held_at_warning_unless_debugging(restore_logging: None) -> None:
    from zoneinfo import ZoneInfo

    configure_logging("info", "text", ZoneInfo("UTC"))
    assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("broadcaster.schedule").isEnabledFor(logging.INFO)
    configure_logging("debug", "text", ZoneInfo("UTC"))
    assert logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.DEBUG)
