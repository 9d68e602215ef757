"""Webhook bodies we cannot apply never earn a 500 (LINE would redeliver them forever):
too deep is a 400, a bad event is skipped and recorded while the others apply."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.app import create_app
from broadcaster.audit import AuditEntry
from broadcaster.retention import prune
from broadcaster.settings import RetentionSettings
from broadcaster.webhook_events import WebhookEvent, claim_event
from segments.residents import Resident
from tests.conftest import make_settings

SECRET = "test-channel-secret"
GOOD_USER = "U" + "0123456789abcdef" * 2


@pytest.fixture
def webhook(tmp_path: Path, engine: Engine) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, **{"line.channel_secret": SECRET})
    with TestClient(create_app(settings, engine=engine, background=False)) as client:
        yield client


def post(client: TestClient, body: bytes):
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    return client.post(
        "/line/webhook",
        content=body,
        headers={"x-line-signature": signature.decode(), "Content-Type": "application/json"},
    )


def unfollow(event_id: str, user_id: str = GOOD_USER, timestamp: Any = 1_780_000_000_000):
    return {
        "type": "unfollow",
        "mode": "active",
        "timestamp": timestamp,
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
    }


def body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"destination": "Uxxx", "events": list(events)}).encode()


def test_a_body_nested_too_deep_is_a_400_that_changes_nothing(webhook: TestClient, counts) -> None:
    before = counts()
    for depth in (40, 10_000):
        deep = b'{"destination": "U", "events": [], "x": ' + b"[" * depth + b"]" * depth + b"}"
        response = post(webhook, deep)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "webhook.400"
    assert counts() == before


@pytest.mark.parametrize(
    "bad",
    [
        unfollow("01BAD", timestamp=10**20),  # past year 9999
        unfollow("01BAD", timestamp=-5),
        unfollow("x" * 1000),  # longer than the 64-character column
        unfollow("01BAD", user_id="U" + "z" * 10_000),
        unfollow("01BAD", user_id="Uabc"),
    ],
)
def test_an_event_that_cannot_be_applied_is_skipped_and_recorded(
    webhook: TestClient, engine: Engine, bad: dict[str, Any]
) -> None:
    good = unfollow("01GOODEVENT000000000000000")
    response = post(webhook, body(bad, good))
    assert response.status_code == 200, response.text
    with Session(engine) as session:
        residents = session.exec(select(Resident)).all()
        assert [r.line_user_id for r in residents] == [GOOD_USER]  # the good event applied
        assert [e.webhook_event_id for e in session.exec(select(WebhookEvent))] == [
            "01GOODEVENT000000000000000"
        ]
        skipped = session.exec(
            select(AuditEntry).where(AuditEntry.action == "webhook.event_skipped")
        ).all()
        assert len(skipped) == 1 and skipped[0].after["type"] == "unfollow"
        assert "zzzz" not in json.dumps(skipped[0].after)  # no user id stored


def test_old_event_ids_are_pruned_by_the_retention_job(engine: Engine) -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    with Session(engine) as session:
        claim_event(session, "old", "follow", now, now - timedelta(days=31))
        claim_event(session, "recent", "follow", now, now - timedelta(days=1))
        session.commit()
    with Session(engine) as session:
        assert prune(session, RetentionSettings(), now).webhook_events == 1
        session.commit()
    with Session(engine) as session:
        assert [e.webhook_event_id for e in session.exec(select(WebhookEvent))] == ["recent"]
