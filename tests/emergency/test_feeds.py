"""JMA Atom feeds polled from a local HTTP server: conditional requests, each telegram
fetched once, filtered by type, office and area, failures retried and reported, the last
good state kept, and an entry on the desk's screen within 5 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.app import create_app
from broadcaster.emergency import feeds
from broadcaster.emergency.models import AlertFeed, AlertFeedEntry, AlertRecord
from broadcaster.settings import Settings
from tests.conftest import T0, auth, make_settings
from tests.emergency import telegrams as tg
from tests.emergency.feed_server import FEED_PATH, FeedServer, serve_feed

HIGH_SURGE = tg.weather(tg.H27, tg.item(tg.kind("高潮警報", "08")))


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with serve_feed() as running:
        yield running


def feed_settings(tmp_path: Path, server: FeedServer, **overrides: Any) -> Settings:
    return make_settings(
        tmp_path,
        **{
            "emergency.feeds": [{"url": server.feed_url, "offices": ["福岡管区気象台"]}],
            "emergency.feed_max_attempts": 2,
            **overrides,
        },
    )


def poll(engine: Engine, settings: Settings) -> list[feeds.PollOutcome]:
    with httpx.Client(timeout=5) as client:
        return feeds.poll_feeds(engine, settings, T0, client)


def records(engine: Engine) -> list[AlertRecord]:
    with Session(engine) as session:
        return list(session.exec(select(AlertRecord).order_by(AlertRecord.id)).all())  # type: ignore[arg-type]


def test_wanted_entries_are_fetched_once_and_make_drafts(
    tmp_path: Path, engine: Engine, server: FeedServer
) -> None:
    settings = feed_settings(tmp_path, server)
    wanted = server.add("surge", tg.H27, HIGH_SURGE)
    server.add("quake", "震度速報", b"<never fetched/>")
    server.add("other-office", tg.H27, HIGH_SURGE, office="札幌管区気象台")
    [first] = poll(engine, settings)
    assert (first.ok, first.fetched, first.failed) == (True, 1, 0)
    [record] = records(engine)
    assert record.outcome == "draft_created"
    [again] = poll(engine, settings)
    assert (again.ok, again.message, again.fetched) == (True, "not modified", 0)
    assert server.not_modified == 1
    path = wanted.removeprefix(server.url)
    assert server.requests[path] == 1
    assert server.requests["/developer/xml/data/quake.xml"] == 0
    assert server.requests["/developer/xml/data/other-office.xml"] == 0


def test_a_telegram_outside_our_areas_is_recorded_as_such(
    tmp_path: Path, engine: Engine, server: FeedServer
) -> None:
    settings = feed_settings(tmp_path, server)
    server.add(
        "neighbour", tg.H27, tg.weather(tg.H27, tg.item(tg.kind("高潮警報", "08"), tg.NEIGHBOUR))
    )
    poll(engine, settings)
    [record] = records(engine)
    assert record.outcome == "outside_city"


def test_a_failed_telegram_is_retried_then_reported(
    tmp_path: Path, engine: Engine, server: FeedServer
) -> None:
    settings = feed_settings(tmp_path, server)
    flaky = server.add("flaky", tg.H27, HIGH_SURGE).removeprefix(server.url)
    broken = server.add(
        "broken", tg.R06, tg.weather(tg.R06, tg.item(tg.kind("レベル３大雨警報")))
    ).removeprefix(server.url)
    server.fail(flaky, 503)
    server.fail(broken, 500, 500)
    [first] = poll(engine, settings)
    assert (first.fetched, first.failed) == (0, 2)
    server.add("later", "記録的短時間大雨情報", tg.rain_record())  # the feed changes
    [second] = poll(engine, settings)
    assert (second.fetched, second.failed) == (2, 1)
    assert server.requests[flaky] == 2 and server.requests[broken] == 2
    [third] = poll(engine, settings)
    assert (third.fetched, third.failed) == (0, 0)  # failed for good: not tried again
    with Session(engine) as session:
        row = session.get(
            AlertFeedEntry,
            next(
                e.entry_id
                for e in session.exec(select(AlertFeedEntry)).all()
                if e.link.endswith("broken.xml")
            ),
        )
        assert row is not None and row.status == "failed" and "HTTP 500" in (row.last_error or "")
        [status] = feeds.feed_status(session, settings)
    assert status["entries"] == {"done": 2, "failed": 1}
    assert status["failed_entries"][0]["link"].endswith("broken.xml")


def test_a_failing_feed_keeps_its_last_good_state_and_is_reported(
    tmp_path: Path, engine: Engine, server: FeedServer, tokens: dict[str, str]
) -> None:
    settings = feed_settings(tmp_path, server)
    server.add("surge", tg.H27, HIGH_SURGE)
    poll(engine, settings)
    with Session(engine) as session:
        good = session.get(AlertFeed, server.feed_url)
        assert good is not None and good.etag
        etag = good.etag
    server.fail(FEED_PATH, 500)
    [failed] = poll(engine, settings)
    assert not failed.ok and "HTTP 500" in failed.message
    with Session(engine) as session:
        state = session.get(AlertFeed, server.feed_url)
        assert state is not None
        assert (state.etag, state.consecutive_failures) == (etag, 1)
        assert state.last_success_at is not None
    app = create_app(settings, engine=engine, background=False)
    with TestClient(app) as client:
        [shown] = client.get("/api/v1/alerts/feeds", headers=auth(tokens["環境課"])).json()["feeds"]
    assert "HTTP 500" in shown["last_error"] and shown["entries"] == {"done": 1}
    [recovered] = poll(engine, settings)
    assert recovered.ok and recovered.message == "not modified"


def test_a_refused_telegram_is_recorded_and_not_fetched_again(
    tmp_path: Path, engine: Engine, server: FeedServer
) -> None:
    settings = feed_settings(tmp_path, server)
    sjis = HIGH_SURGE.decode().replace('encoding="UTF-8"', 'encoding="Shift_JIS"').encode("cp932")
    path = server.add("sjis", tg.H27, sjis).removeprefix(server.url)
    poll(engine, settings)
    server.add("later", tg.H27, HIGH_SURGE)
    poll(engine, settings)
    assert server.requests[path] == 1
    refused = [r for r in records(engine) if r.outcome == "refused"]
    assert len(refused) == 1 and "Shift_JIS" in (refused[0].reason or "")


def test_an_entry_reaches_the_desk_within_5_seconds(
    tmp_path: Path, engine: Engine, server: FeedServer, tokens: dict[str, str]
) -> None:
    """The scheduled job as the service runs it; the time is from the entry appearing in
    the feed to the draft listed by the API the desk's screen reads."""
    settings = feed_settings(tmp_path, server, **{"emergency.feed_interval_seconds": 1.0})
    scheduler = BackgroundScheduler(timezone="UTC")
    feeds.install(scheduler, engine, settings)
    app = create_app(settings, engine=engine, background=False)
    with TestClient(app) as client:
        scheduler.start()
        try:
            # The entry appears just after a poll found the feed empty: the worst case.
            start_deadline = time.monotonic() + 10
            while server.requests[FEED_PATH] == 0 and time.monotonic() < start_deadline:
                time.sleep(0.01)
            appeared = time.monotonic()
            server.add("surge", tg.H27, HIGH_SURGE)
            deadline = appeared + 10
            drafts: list[Any] = []
            while not drafts and time.monotonic() < deadline:
                drafts = client.get(
                    "/api/v1/emergencies/drafts", headers=auth(tokens["危機管理課"])
                ).json()["drafts"]
                if not drafts:
                    time.sleep(0.05)
            elapsed = time.monotonic() - appeared
        finally:
            scheduler.shutdown(wait=True)
    assert drafts, "no draft within 10 s"
    assert elapsed <= 5.0, f"entry to draft took {elapsed:.2f} s"
    print(f"entry to draft: {elapsed:.2f} s")
