"""How the service logs: our events at the configured level, libraries only when they warn.

An idle service must be quiet (at most a line a minute): APScheduler logs two lines for
every tick of the scheduler's one-second job, uvicorn one per HTTP request, httpx one per
call. Those loggers are held at WARNING unless `log_level = "debug"`.

Every timestamp is shown in the city's time zone with its offset
(`2026-12-02T09:15:03+09:00`), the convention staff read everywhere else, so a line's
time and a "next run at" in the same line never disagree. `log_format = "json"` writes
one JSON object a line for a log collector.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

# The loggers APScheduler writes its routine warnings to (filters act where a record is made).
SCHEDULER_LOGGERS = ("apscheduler.scheduler", "apscheduler.executors.default")

# Libraries whose INFO lines describe their own machinery, not a city's events.
CHATTY_LOGGERS = (
    "apscheduler",
    "uvicorn.access",
    "httpx",
    "httpcore",
    "aiohttp.access",
    "alembic",
    # "Started server process", "Application startup complete": `serve` says it itself.
    "uvicorn.error",
    "linebot",
)
# uvicorn's own loggers, which its default dictConfig would give handlers of their own.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

# APScheduler warns of these, but for our jobs they are the design: every job runs with
# max_instances=1 and coalesce, so a tick still running when the next is due is skipped, and
# a tick delayed by a busy event loop is late. Under load each would be a line a second.
ROUTINE_SCHEDULER_WARNINGS = (
    "maximum number of running instances reached",
    "was missed by",
)

# The attributes every LogRecord has; anything else came in through `extra=` and is data.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class LocalTimeFormatter(logging.Formatter):
    """`<time with offset> <LEVEL> <logger>: <message>`, the time in the city's zone."""

    def __init__(self, tz: ZoneInfo) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, self.tz).isoformat(timespec="seconds")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and any `extra=` fields."""

    def __init__(self, tz: ZoneInfo) -> None:
        super().__init__()
        self.tz = tz

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, self.tz).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RoutineSchedulerWarnings(logging.Filter):
    """Drops APScheduler's warnings that describe our jobs working as designed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("apscheduler") or record.levelno > logging.WARNING:
            return True
        message = record.getMessage()
        return not any(text in message for text in ROUTINE_SCHEDULER_WARNINGS)


def configure_logging(level: str, log_format: str, tz: ZoneInfo) -> logging.Handler:
    """Install one stderr handler on the root logger; returns it (tests capture through it).

    Replaces handlers a previous call installed, so calling twice does not double lines.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(tz) if log_format == "json" else LocalTimeFormatter(tz))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_broadcaster", False):
            root.removeHandler(old)
    handler._broadcaster = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    library_level = logging.DEBUG if level == "debug" else logging.WARNING
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(library_level)
    for name in SCHEDULER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RoutineSchedulerWarnings) for f in logger.filters):
            logger.addFilter(RoutineSchedulerWarnings())
    for name in UVICORN_LOGGERS:
        # Through the root handler, in our format, not uvicorn's own.
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler


events = logging.getLogger("broadcaster.events")


def broadcast_finished(broadcast_id: int, status: str, counts: dict[str, int], *,
                       finished: bool) -> None:
    """One line when a broadcast is done: `sent` at INFO, anything troubled at WARNING.

    Called by `progress.finish_if_done` for every check; only the call that finished the
    broadcast (`finished`) writes the line, so several workers never log it twice.
    """
    if not finished:
        return
    level = logging.INFO if status == "sent" else logging.WARNING
    summary = ", ".join(f"{count} {name}" for name, count in counts.items() if count)
    events.log(level, "broadcast %s %s: %s", broadcast_id, status, summary or "no recipients",
               extra={"broadcast_id": broadcast_id, "status": status})
