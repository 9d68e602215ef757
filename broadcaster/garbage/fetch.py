"""Calendars fetched from URLs on a schedule (garbage.sources), keeping the last good import.

A fetch that fails (network, HTTP error, too large) or returns a file we refuse changes no
collection day: the zone keeps its last good import, and the failure is written on the
source row (and as a refused CalendarImport) for staff to see.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.db import session_scope
from broadcaster.garbage.ical import CalendarError
from broadcaster.garbage.importer import import_calendar, record_refusal
from broadcaster.garbage.models import CalendarSource
from broadcaster.settings import Settings

log = logging.getLogger(__name__)

ACTOR = "calendar fetch"
ALL_ZONES = "*"


class FetchError(Exception):
    """The URL did not give us a file; `str()` is one line."""


@dataclass(frozen=True)
class FetchOutcome:
    zone: str
    url: str
    ok: bool
    message: str
    import_id: int | None = None


def download(url: str, *, timeout: float, max_bytes: int) -> bytes:
    """The body at `url`. Raises FetchError for a network error, a non-2xx or too large a body."""
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 300:
                raise FetchError(f"HTTP {response.status_code} from {url}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(
                        f"{url} is larger than {max_bytes} bytes (garbage.fetch_max_bytes)"
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from None


def fetch_due(
    engine: Engine, settings: Settings, now: datetime, *, force: bool = False
) -> list[FetchOutcome]:
    """The scheduler job: fetch and import every configured source whose interval has passed
    (all of them with `force`). One source's failure never stops the others."""
    interval = timedelta(minutes=settings.garbage.fetch_interval_minutes)
    outcomes: list[FetchOutcome] = []
    for zone, url in sorted(settings.garbage.sources.items()):
        with session_scope(engine) as session:
            source = _source(session, zone, url)
            if (
                not force
                and source.last_attempt_at is not None
                and now - source.last_attempt_at < interval
            ):
                continue
            source.last_attempt_at = now
            session.add(source)
        outcomes.append(fetch_one(engine, settings, zone, url, now))
    return outcomes


def fetch_one(
    engine: Engine, settings: Settings, zone: str, url: str, now: datetime
) -> FetchOutcome:
    try:
        data = download(
            url,
            timeout=settings.garbage.fetch_timeout_seconds,
            max_bytes=settings.garbage.fetch_max_bytes,
        )
        with session_scope(engine) as session:
            result = import_calendar(
                session,
                data,
                settings=settings,
                now=now,
                actor=ACTOR,
                source=url,
                zone=None if zone == ALL_ZONES else zone,
            )
            source = _source(session, zone, url)
            source.last_success_at = now
            source.last_import_id = result.import_id
            source.last_error = None
            source.consecutive_failures = 0
            session.add(source)
        return FetchOutcome(zone, url, True, f"imported {result.days} day(s)", result.import_id)
    except (FetchError, CalendarError) as exc:
        message = str(exc)
        log.warning(
            "garbage calendar fetch for zone %s failed, keeping the last good import: %s",
            zone,
            message,
        )
        with session_scope(engine) as session:
            source = _source(session, zone, url)
            source.last_error = message
            source.last_error_at = now
            source.consecutive_failures += 1
            session.add(source)
            row = record_refusal(
                session,
                now=now,
                actor=ACTOR,
                source=url,
                zone=None if zone == ALL_ZONES else zone,
                error=(
                    exc
                    if isinstance(exc, CalendarError)
                    else CalendarError(message, code="calendar.fetch_failed", problem=message)
                ),
            )
        return FetchOutcome(zone, url, False, message, row.id)


def _source(session: Session, zone: str, url: str) -> CalendarSource:
    source = session.exec(select(CalendarSource).where(CalendarSource.zone == zone)).first()
    if source is None:
        source = CalendarSource(zone=zone, url=url)
    source.url = url
    session.add(source)
    session.flush()
    return source
