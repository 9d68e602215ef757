"""Scheduled fetches from a URL keep the last good import when the source breaks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.garbage.fetch import fetch_due
from broadcaster.garbage.models import CalendarSource, CollectionDay
from tests.conftest import make_settings
from tests.garbage.conftest import allday, vcal

NOW = datetime(2026, 4, 1, 3, 0, tzinfo=UTC)


class Feed:
    def __init__(self) -> None:
        self.status = 200
        self.body = b""


@pytest.fixture
def feed() -> Iterator[tuple[Feed, str]]:
    state = Feed()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(state.status)
            self.send_header("Content-Type", "text/calendar")
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/a.ics"
    server.shutdown()
    server.server_close()
    thread.join()


def test_failed_or_bad_fetch_keeps_the_last_good_import(
    feed: tuple[Feed, str], engine: Engine, tmp_path: Path
) -> None:
    state, url = feed
    settings = make_settings(
        tmp_path, **{"garbage.sources": {"A": url}, "garbage.fetch_interval_minutes": 60.0}
    )
    state.body = vcal(allday("b", "20260406", "燃やすごみ", "RRULE:FREQ=WEEKLY;COUNT=3"))
    [ok] = fetch_due(engine, settings, NOW)
    assert ok.ok and ok.message == "imported 3 day(s)"
    assert fetch_due(engine, settings, NOW + timedelta(minutes=10)) == []  # not due yet

    state.status = 500
    [failed] = fetch_due(engine, settings, NOW + timedelta(hours=2))
    assert not failed.ok and "HTTP 500" in failed.message
    state.status, state.body = 200, b"<html>maintenance</html>"
    [bad] = fetch_due(engine, settings, NOW + timedelta(hours=4))
    assert not bad.ok and "not an iCal file" in bad.message

    with Session(engine) as session:
        assert len(session.exec(select(CollectionDay)).all()) == 3
        source = session.exec(select(CalendarSource)).one()
    assert source.consecutive_failures == 2 and "not an iCal file" in (source.last_error or "")
    assert source.last_success_at == NOW
