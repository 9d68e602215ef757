"""Garbage-calendar fixtures: iCal files written by the tests, a renderer, an importer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.garbage.importer import ImportResult, import_calendar
from broadcaster.render import Renderer
from broadcaster.settings import Settings

# The LINE round trip (sandbox + our app under uvicorn) for the replies tested here.
from tests.webhook.conftest import (  # noqa: F401
    app,
    line_settings,
    make_user,
    sandbox,
    serve,
    webhook_sandbox,
)

CRLF = "\r\n"


def vcal(*events: str, header: str = "") -> bytes:
    """An iCal file around `events` (each the lines between BEGIN:VEVENT and END:VEVENT)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//garbage//JA"]
    if header:
        lines += header.strip().splitlines()
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            *[line.strip() for line in event.strip().splitlines()],
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return (CRLF.join(lines) + CRLF).encode()


def allday(uid: str, day: str, summary: str, *extra: str) -> str:
    return "\n".join([f"UID:{uid}", f"SUMMARY:{summary}", f"DTSTART;VALUE=DATE:{day}", *extra])


TOKYO_VTIMEZONE = """
BEGIN:VTIMEZONE
TZID:Asia/Tokyo
BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:+0900
TZOFFSETTO:+0900
TZNAME:JST
END:STANDARD
END:VTIMEZONE
"""

Importer = Callable[..., ImportResult]


@pytest.fixture
def renderer(settings: Settings) -> Renderer:
    return Renderer.from_settings(settings)


@pytest.fixture
def load(engine: Engine, settings: Settings) -> Importer:
    """Import `data` at `now` and commit; returns the result."""

    def run(data: bytes, now: datetime, zone: str | None = "A", **kwargs: object) -> ImportResult:
        with Session(engine, expire_on_commit=False) as session:
            result = import_calendar(
                session,
                data,
                settings=settings,
                now=now,
                actor="test",
                source="test.ics",
                zone=zone,
                **kwargs,
            )
            session.commit()
        return result

    return run
