"""Signatures, de-duplication by webhookEventId, standby mode, and replies that fail."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from linebot.v3.webhook import WebhookParser
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from broadcaster.clock import utcnow
from broadcaster.replies import Reply
from broadcaster.sandbox.testing import SandboxThread, free_port
from broadcaster.sandbox.webhooks import sign
from broadcaster.settings import Settings
from broadcaster.webhook import process_events
from broadcaster.webhook_events import WebhookEvent
from segments.residents import FollowState, Resident
from tests.conftest import line_user_id
from tests.webhook.conftest import LineUser, ServedApp
from tests.webhook.test_enrollment import interests_of, resident_of

SECRET = "sandbox-secret"


def count(engine: Engine, table: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def event(kind: str, user_id: str, event_id: str, *, mode: str = "active",
          **extra: Any) -> dict[str, Any]:
    """A webhook event built per webhook.yml."""
    body: dict[str, Any] = {
        "type": kind, "mode": mode, "timestamp": int(datetime.now(UTC).timestamp() * 1000),
        "source": {"type": "user", "userId": user_id}, "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
    }
    if kind != "unfollow" and mode == "active":
        body["replyToken"] = "r" * 32
    if kind == "follow":
        body["follow"] = {"isUnblocked": False}
    body.update(extra)
    return body


def post_signed(app: ServedApp, events: list[dict[str, Any]], *,
                headers: dict[str, str] | None = None, secret: str = SECRET) -> httpx.Response:
    raw = json.dumps({"destination": "U" + "f" * 32, "events": events}).encode()
    sent = {"content-type": "application/json", "x-line-signature": sign(secret, raw)}
    if headers is not None:
        sent = {"content-type": "application/json", **headers}
    return httpx.post(app.webhook_url, content=raw, headers=sent, timeout=10)


def test_forged_signature_is_refused_and_nothing_is_stored(
    sandbox: SandboxThread, app: ServedApp, engine: Engine
) -> None:
    sent = sandbox.send_webhook(type="follow", user_id=line_user_id(20), url=app.webhook_url,
                                forge_signature=True)
    assert sent["status"] == 401
    assert count(engine, Resident) == 0 and count(engine, WebhookEvent) == 0
    assert sandbox.deliveries(line_user_id(20)) == []


def test_missing_signature_is_refused_before_the_body_is_read(
    app: ServedApp, engine: Engine
) -> None:
    response = post_signed(app, [event("follow", line_user_id(21), "01MISSING")], headers={})
    assert response.status_code == 400
    assert response.json()["detail"] == "missing x-line-signature header"
    assert response.headers["content-type"] == "application/problem+json"
    garbage = httpx.post(app.webhook_url, content=b"\xff not json",
                         headers={"x-line-signature": "AAAA"})
    assert garbage.status_code == 401
    assert count(engine, Resident) == 0 and count(engine, WebhookEvent) == 0


def test_signature_header_name_is_case_insensitive_and_empty_events_answer_200(
    app: ServedApp, engine: Engine
) -> None:
    raw = json.dumps({"destination": "U" + "f" * 32, "events": []}).encode()
    response = httpx.post(app.webhook_url, content=raw,
                          headers={"X-LINE-SIGNATURE": sign(SECRET, raw)})
    assert response.status_code == 200
    assert post_signed(app, [], secret="other-secret").status_code == 401


def test_redelivered_events_are_applied_once(
    make_user: Callable[[str], LineUser], engine: Engine
) -> None:
    user = make_user(line_user_id(22))
    follow = user.send("follow")
    first = user.tap(user.wait_reply(), "日本語")
    assert user.redeliver(follow["event"])["status"] == 200
    toggle = user.send("postback", data="set=interest&v=子育て")
    user.wait_reply()
    # A toggle applied twice would undo itself: the redelivery must change nothing.
    redelivered = user.redeliver(toggle["event"])
    assert redelivered["status"] == 200
    [again] = redelivered["payload"]["events"]
    assert again["webhookEventId"] == toggle["event"]["webhookEventId"]
    user.no_more_replies()
    resident = resident_of(engine, user.user_id)
    assert resident is not None and resident.follow_count == 1
    assert interests_of(engine, resident.id) == {"子育て"}
    assert count(engine, WebhookEvent) == 3
    assert "友だち追加" in first[0]["text"]


def test_concurrent_deliveries_of_one_event_apply_once(
    any_engine: Engine, settings: Settings
) -> None:
    raw = json.dumps({"destination": "U" + "f" * 32, "events": [
        event("follow", line_user_id(23), "01CONCURRENT0000000000000A")]})
    results: list[tuple[list[Reply], int]] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        events = WebhookParser(SECRET).parse(raw, sign(SECRET, raw.encode()))
        barrier.wait()
        results.append(process_events(any_engine, settings, events, utcnow()))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(len(replies) for replies, _ in results) == [0, 0, 0, 1]
    assert all(failed == 0 for _, failed in results)
    with Session(any_engine) as session:
        resident = session.exec(select(Resident)).one()
        assert resident.follow_count == 1
    assert count(any_engine, WebhookEvent) == 1


def test_standby_events_change_state_but_get_no_reply(
    app: ServedApp, engine: Engine, sandbox: SandboxThread
) -> None:
    user_id = line_user_id(24)
    response = post_signed(app, [
        event("follow", user_id, "01STANDBY00000000000000001", mode="standby"),
        event("postback", user_id, "01STANDBY00000000000000002", mode="standby",
              postback={"data": "set=district&v=東"}),
    ])
    assert response.status_code == 200
    resident = resident_of(engine, user_id)
    assert resident is not None
    assert resident.follow_state == FollowState.following and resident.district == "東"
    assert sandbox.requests() == []


def test_a_failing_reply_never_breaks_the_webhook(
    serve: Callable[[Settings, Engine], ServedApp], make_settings_for_dead_line: Settings,
    engine: Engine, sandbox: SandboxThread, caplog: pytest.LogCaptureFixture,
) -> None:
    app = serve(make_settings_for_dead_line, engine)
    user_id = line_user_id(25)
    sent = sandbox.send_webhook(type="follow", user_id=user_id, url=app.webhook_url)
    assert sent["status"] == 200
    resident = resident_of(engine, user_id)
    assert resident is not None and resident.enrollment_step == "language"
    deadline = time.monotonic() + 10
    while not [r for r in caplog.records if r.name == "broadcaster.replies"]:
        assert time.monotonic() < deadline, "the failed reply was not logged"
        time.sleep(0.02)
    [record] = [r for r in caplog.records if r.name == "broadcaster.replies"]
    assert "reply to U0000…019 failed" in record.getMessage()
    assert user_id not in record.getMessage()


@pytest.fixture
def make_settings_for_dead_line(line_settings: Settings) -> Settings:
    dead = f"http://127.0.0.1:{free_port()}"
    return line_settings.model_copy(
        update={"line": line_settings.line.model_copy(update={"api_base_url": dead})}
    )
