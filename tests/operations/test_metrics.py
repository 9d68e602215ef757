"""`/metrics`: what an operator's Prometheus sees, and who may see it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.app import create_app
from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcasts import Broadcast, BroadcastStatus, Priority
from broadcaster.clock import utcnow
from broadcaster.delivery.line import LineSender
from broadcaster.delivery.port import OutgoingBatch
from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import Settings
from tests.conftest import line_user_id, make_settings

TOKEN = "metrics-secret"


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    """Every test here on SQLite, and on PostgreSQL when a URL is given: the queries are
    Core SQL over JSON columns, where the engines differ."""
    return any_engine


@pytest.fixture
def client(tmp_path: Path, engine: Engine) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, **{"metrics.token": TOKEN})
    with TestClient(create_app(settings, engine=engine, background=False)) as client:
        yield client


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def add_broadcast(session: Session, *, priority: int, status: str, late: timedelta) -> int:
    now = utcnow()
    broadcast = Broadcast(
        department_id=1, title="t", category="general", priority=priority, status=status,
        template_text="x", send_at=now - late, created_at=now, updated_at=now,
    )
    session.add(broadcast)
    session.flush()
    assert broadcast.id is not None
    return broadcast.id


def add_batch(session: Session, broadcast_id: int, status: str, recipients: int,
              priority: int = 0) -> None:
    session.add(Batch(
        broadcast_id=broadcast_id, priority=priority, messages=[], recipients=[],
        recipient_count=recipients, retry_key=str(uuid.uuid4()), status=status,
        created_at=utcnow(), accepted_at=utcnow() if status == BatchStatus.accepted else None,
    ))


def test_queue_outcomes_lag_and_quota_are_read_from_the_database(
    client: TestClient, engine: Engine, tokens: dict[str, str]
) -> None:
    with Session(engine) as session:
        urgent = add_broadcast(session, priority=Priority.emergency, status="sending",
                               late=timedelta(0))
        normal = add_broadcast(session, priority=0, status="sending", late=timedelta(0))
        add_broadcast(session, priority=0, status=BroadcastStatus.scheduled,
                      late=timedelta(seconds=90))
        add_batch(session, urgent, BatchStatus.pending, 500, Priority.emergency)
        add_batch(session, urgent, BatchStatus.pending, 120, Priority.emergency)
        add_batch(session, normal, BatchStatus.pending, 30)
        add_batch(session, normal, BatchStatus.accepted, 400)
        add_batch(session, normal, BatchStatus.failed, 3)
        session.commit()
    samples = scrape(client)
    assert samples[("broadcaster_queue_batches", (("lane", "emergency"),))] == 2
    assert samples[("broadcaster_queue_recipients", (("lane", "emergency"),))] == 620
    assert samples[("broadcaster_queue_batches", (("lane", "normal"),))] == 1
    assert samples[("broadcaster_batches", (("status", "accepted"),))] == 1
    assert samples[("broadcaster_batches", (("status", "failed"),))] == 1
    assert samples[("broadcaster_quota_used", ())] == 400
    assert 89 <= samples[("broadcaster_scheduler_lag_seconds", ())] <= 120


def test_the_latest_finished_broadcast_shows_its_dispatch_and_send_time(
    client: TestClient, engine: Engine, tokens: dict[str, str]
) -> None:
    with Session(engine) as session:
        broadcast_id = add_broadcast(session, priority=Priority.emergency, status="sent",
                                     late=timedelta(0))
        broadcast = session.get(Broadcast, broadcast_id)
        assert broadcast is not None
        started = utcnow() - timedelta(seconds=30)
        broadcast.started_at = started
        broadcast.dispatched_at = started + timedelta(seconds=2)
        broadcast.finished_at = started + timedelta(seconds=14)
        session.add(broadcast)
        session.commit()
    samples = scrape(client)
    lane = (("lane", "emergency"),)
    assert samples[("broadcaster_last_broadcast_seconds", (*lane, ("phase", "dispatch")))] == 2
    assert samples[("broadcaster_last_broadcast_seconds", (*lane, ("phase", "send")))] == 12
    assert not any(key[0] == "broadcaster_last_broadcast_seconds" and ("lane", "normal") in key[1]
                   for key in samples)


def test_metrics_need_the_token_and_without_one_only_loopback(
    client: TestClient, tmp_path: Path, engine: Engine
) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    settings = make_settings(tmp_path)  # no token
    app = create_app(settings, engine=engine, background=False)
    with TestClient(app, client=("192.0.2.7", 5000)) as remote:
        assert remote.get("/metrics").status_code == 403
    with TestClient(app, client=("127.0.0.1", 5000)) as local:
        response = local.get("/metrics")
        assert response.status_code == 200
        assert "broadcaster_queue_batches" in response.text


def test_lines_answers_and_latency_are_counted_per_endpoint(
    client: TestClient, tmp_path: Path
) -> None:
    with SandboxThread(SandboxConfig()) as sandbox:
        settings: Settings = make_settings(tmp_path, **{
            "line.channel_access_token": "sandbox-token",
            "line.api_base_url": sandbox.url,
            "line.max_attempts": 1,
        })
        before = scrape(client)
        sandbox.set_faults(script=["ok", "429", "500"])

        async def send_three() -> None:
            sender = LineSender(settings)
            await sender.open()
            try:
                for n in range(3):
                    batch = OutgoingBatch(n + 1, 9, "multicast",
                                          [{"type": "text", "text": "お知らせ"}],
                                          [line_user_id(n + 1)], str(uuid.uuid4()))
                    await sender.send(batch)
            finally:
                await sender.close()

        asyncio.run(send_three())
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("broadcaster_line_responses_total", endpoint="multicast", answer="2xx") == 1
    assert grew("broadcaster_line_responses_total", endpoint="multicast", answer="429") == 1
    assert grew("broadcaster_line_responses_total", endpoint="multicast", answer="5xx") == 1
    assert grew("broadcaster_line_request_seconds_count", endpoint="multicast") == 3
