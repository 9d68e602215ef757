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

# Libraries whose INFO lines describe their own machinery, not a city's events.
CHATTY_LOGGERS = (
    "apscheduler",
    "uvicorn.access",
    "httpx",
    "httpcore",
    "aiohttp.access",
    "alembic.runtime.migration",
    "linebot",
)
# uvicorn's own loggers, which its default dictConfig would give handlers of their own.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

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
    for name in UVICORN_LOGGERS:
        # Through the root handler, in our format, not uvicorn's own.
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler
