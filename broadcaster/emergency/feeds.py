"""JMA's Atom feeds polled for telegrams, each telegram fetched once.

JMA publishes 気象庁防災情報XML through pull-type Atom feeds (high-frequency, updated every
minute, and long-term) and blocks clients that download the same files again. So a feed is
asked for with its validators (If-None-Match / If-Modified-Since: an unchanged feed costs a
304), and each entry is fetched once: its id is stored before the fetch and marked done
after, whatever the telegram turned out to be. Only entries of the report types we handle
(`emergency.feed_titles`) from the offices that cover the city (`offices`) are fetched;
the telegram's own area codes then decide whether it concerns us (`drafts.apply_alert`).

A failure (network, HTTP status, a feed that is not Atom) changes only the feed's error
fields: its validators and entries stay, which is the last good state. A telegram that
fails to download is retried at the next polls, up to `feed_max_attempts`, then reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

import httpx
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from broadcaster.clock import utcnow
from broadcaster.emergency.alert import AlertError, parse_alert, parse_xml
from broadcaster.emergency.drafts import receive, record_refusal
from broadcaster.emergency.models import AlertFeed, AlertFeedEntry
from broadcaster.settings import AlertFeedSettings, Settings

log = logging.getLogger(__name__)

ATOM = "{http://www.w3.org/2005/Atom}"
# JMA's feeds are a few hundred kB; this only bounds a misbehaving server.
FEED_MAX_BYTES = 10_000_000
USER_AGENT = "broadcaster (municipal alert relay; fetches each telegram once)"


class FeedError(Exception):
    """The feed or telegram could not be had; `str()` is one line."""


@dataclass(frozen=True)
class FeedEntry:
    entry_id: str
    title: str
    office: str
    link: str


@dataclass(frozen=True)
class PollOutcome:
    feed: str
    ok: bool
    message: str
    fetched: int = 0
    failed: int = 0


def parse_feed(data: bytes) -> list[FeedEntry]:
    """Entries oldest first (feeds list the newest first). Raises FeedError."""
    try:
        root = parse_xml(data, FEED_MAX_BYTES)
    except AlertError as exc:
        raise FeedError(f"the feed is not usable XML: {exc}") from None
    if root.tag != f"{ATOM}feed":
        raise FeedError(f"the feed is not an Atom <feed> (got {root.tag!r})")
    entries = [_entry(e) for e in root.findall(f"{ATOM}entry")]
    return [e for e in reversed(entries) if e.entry_id and e.link]


def _entry(element: Element) -> FeedEntry:
    def text(path: str) -> str:
        found = element.find(path)
        return (found.text or "").strip() if found is not None else ""

    link = element.find(f"{ATOM}link")
    href = (link.get("href") or "").strip() if link is not None else ""
    return FeedEntry(
        text(f"{ATOM}id") or href, text(f"{ATOM}title"), text(f"{ATOM}author/{ATOM}name"), href
    )


def wanted(entry: FeedEntry, feed: AlertFeedSettings, titles: list[str]) -> bool:
    """An entry of a report type we handle, from an office covering the city."""
    if not entry.title.startswith(tuple(titles)):
        return False
    return not feed.offices or entry.office in feed.offices


@dataclass(frozen=True)
class _Response:
    status: int
    headers: httpx.Headers
    content: bytes


def _get(client: httpx.Client, url: str, headers: dict[str, str], limit: int) -> _Response:
    try:
        with client.stream("GET", url, headers=headers) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > limit:
                    raise FeedError(f"{url} is larger than {limit} bytes")
            return _Response(response.status_code, response.headers, bytes(body))
    except httpx.HTTPError as exc:
        raise FeedError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from None


def poll_feeds(
    engine: Engine, settings: Settings, now: datetime, client: httpx.Client
) -> list[PollOutcome]:
    """The scheduler job: every configured feed polled, new entries fetched and applied.
    One feed's failure never stops the others."""
    return [poll_feed(engine, settings, feed, now, client) for feed in settings.emergency.feeds]


def poll_feed(
    engine: Engine,
    settings: Settings,
    feed: AlertFeedSettings,
    now: datetime,
    client: httpx.Client,
) -> PollOutcome:
    emergency = settings.emergency
    with Session(engine) as session:
        state = session.get(AlertFeed, feed.url) or AlertFeed(url=feed.url)
        headers = {"User-Agent": USER_AGENT}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        state.last_attempt_at = now
        session.add(state)
        session.commit()
    message = "not modified"
    try:
        response = _get(client, feed.url, headers, FEED_MAX_BYTES)
        if response.status != 304:
            if response.status >= 300:
                raise FeedError(f"HTTP {response.status} from {feed.url}")
            entries = [
                e for e in parse_feed(response.content) if wanted(e, feed, emergency.feed_titles)
            ]
            added = _remember(engine, feed.url, entries, now)
            message = f"{len(entries)} wanted entr(ies), {added} new"
        _succeeded(engine, feed.url, response, now)
        ok = True
    except FeedError as exc:
        message, ok = str(exc), False
        log.warning("alert feed %s failed, keeping its last good state: %s", feed.url, message)
        _failed(engine, feed.url, message, now)
    fetched, failed = _fetch_pending(engine, settings, feed.url, now, client)
    return PollOutcome(feed.url, ok, message, fetched, failed)


def _remember(engine: Engine, url: str, entries: list[FeedEntry], now: datetime) -> int:
    added = 0
    with Session(engine) as session:
        for entry in entries:
            if session.get(AlertFeedEntry, entry.entry_id) is None:
                session.add(
                    AlertFeedEntry(
                        entry_id=entry.entry_id,
                        feed_url=url,
                        link=entry.link,
                        title=entry.title[:200],
                        seen_at=now,
                    )
                )
                added += 1
        session.commit()
    return added


def _succeeded(engine: Engine, url: str, response: _Response, now: datetime) -> None:
    with Session(engine) as session:
        state = session.get(AlertFeed, url) or AlertFeed(url=url)
        if response.status != 304:
            state.etag = response.headers.get("etag")
            state.last_modified = response.headers.get("last-modified")
        state.last_success_at = now
        state.last_error = None
        state.consecutive_failures = 0
        session.add(state)
        session.commit()


def _failed(engine: Engine, url: str, message: str, now: datetime) -> None:
    with Session(engine) as session:
        state = session.get(AlertFeed, url) or AlertFeed(url=url)
        state.last_error = message
        state.last_error_at = now
        state.consecutive_failures += 1
        session.add(state)
        session.commit()


def _fetch_pending(
    engine: Engine,
    settings: Settings,
    url: str,
    now: datetime,
    client: httpx.Client,
) -> tuple[int, int]:
    emergency = settings.emergency
    with Session(engine) as session:
        pending = session.exec(
            select(AlertFeedEntry)
            .where(AlertFeedEntry.feed_url == url, AlertFeedEntry.status == "pending")
            .order_by(col(AlertFeedEntry.seen_at), col(AlertFeedEntry.entry_id))
        ).all()
        links = [(p.entry_id, p.link) for p in pending]
    fetched = failed = 0
    for entry_id, link in links:
        try:
            response = _get(client, link, {"User-Agent": USER_AGENT}, emergency.max_alert_bytes)
            if response.status >= 300:
                raise FeedError(f"HTTP {response.status} from {link}")
        except FeedError as exc:
            failed += 1
            _entry_failed(engine, entry_id, str(exc), emergency.feed_max_attempts)
            continue
        data = response.content
        record_id: int | None
        try:
            alert = parse_alert(data, emergency.max_alert_bytes, emergency.cap_rules or None)
        except AlertError as exc:
            with Session(engine) as session:
                record_id = record_refusal(session, data, str(exc), now).id
                session.commit()
        else:
            record_id = receive(engine, settings, alert, data, now).record.id
        with Session(engine) as session:
            row = session.get(AlertFeedEntry, entry_id)
            if row is not None:
                row.status, row.record_id, row.fetched_at = "done", record_id, now
                row.attempts += 1
                session.add(row)
                session.commit()
        fetched += 1
    return fetched, failed


def _entry_failed(engine: Engine, entry_id: str, message: str, max_attempts: int) -> None:
    log.warning("alert telegram %s not fetched: %s", entry_id, message)
    with Session(engine) as session:
        row = session.get(AlertFeedEntry, entry_id)
        if row is None:
            return
        row.attempts += 1
        row.last_error = message
        if row.attempts >= max_attempts:
            row.status = "failed"
        session.add(row)
        session.commit()


def feed_status(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Each configured feed's health and its entries by status, for the desk."""
    out = []
    for feed in settings.emergency.feeds:
        state = session.get(AlertFeed, feed.url)
        counts = dict(
            session.exec(
                select(AlertFeedEntry.status, func.count())
                .where(AlertFeedEntry.feed_url == feed.url)
                .group_by(col(AlertFeedEntry.status))
            ).all()
        )
        failed = session.exec(
            select(AlertFeedEntry)
            .where(AlertFeedEntry.feed_url == feed.url, AlertFeedEntry.status == "failed")
            .order_by(col(AlertFeedEntry.seen_at).desc())
            .limit(20)
        ).all()
        out.append(
            {
                "url": feed.url,
                "last_success_at": _iso(state.last_success_at if state else None),
                "last_error": state.last_error if state else None,
                "last_error_at": _iso(state.last_error_at if state else None),
                "consecutive_failures": state.consecutive_failures if state else 0,
                "entries": counts,
                "failed_entries": [
                    {"link": f.link, "title": f.title, "error": f.last_error} for f in failed
                ],
            }
        )
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def install(scheduler: BaseScheduler, engine: Engine, settings: Settings) -> None:
    """Poll the configured feeds every `feed_interval_seconds` (nothing when none)."""
    if not settings.emergency.feeds:
        return
    client = httpx.Client(timeout=settings.emergency.feed_timeout_seconds, follow_redirects=True)

    def job() -> None:
        for outcome in poll_feeds(engine, settings, utcnow(), client):
            log.info("alert feed: %s", outcome)

    scheduler.add_job(
        job,
        "interval",
        seconds=settings.emergency.feed_interval_seconds,
        id="alert-feeds",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        next_run_time=utcnow(),
    )
