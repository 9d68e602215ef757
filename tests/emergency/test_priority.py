"""An emergency goes ahead of queued normal work, and quiet hours never stop it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.batches import Batch
from broadcaster.broadcasts import Broadcast, BroadcastKind
from broadcaster.delivery.worker import DeliveryWorker
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import Settings
from segments.residents import Resident
from tests.clock import freeze_time
from tests.conftest import auth
from tests.delivery.scenario import (
    add_residents,
    dispatch_now,
    line_settings,
    new_broadcast,
    text_plan,
)
from tests.emergency.conftest import received


def test_order_at_23h_is_sent_and_overtakes_pending_normal_batches(
    client: TestClient,
    tokens: dict[str, str],
    engine: Engine,
    tmp_path: Path,
    make_resident: Callable[..., Resident],
    sandbox: SandboxThread,
) -> None:
    add_residents(engine, 1200, district="中央")
    normal = new_broadcast(engine, title="イベントのお知らせ")
    assert normal.id is not None
    dispatch_now(engine, normal.id, text_plan())
    resident = make_resident(district="北")
    with freeze_time("2026-04-01 23:00:00+09:00"):
        response = client.post(
            "/api/v1/emergencies",
            headers=auth(tokens["危機管理課"]),
            json={"level": 4, "districts": ["北"], "kind": "土砂災害"},
        )
    assert response.status_code == 201, response.text
    with Session(engine) as session:
        emergency_keys = set(
            session.exec(
                select(Batch.retry_key)
                .join(Broadcast, Broadcast.id == Batch.broadcast_id)  # type: ignore[arg-type]
                .where(Broadcast.kind == BroadcastKind.emergency)
            ).all()
        )
    assert len(emergency_keys) == 1

    async def run() -> None:
        settings = line_settings(tmp_path, sandbox.url, **{"line.max_in_flight": 1})
        worker = DeliveryWorker(engine, settings, poll_interval=0.02)
        await worker.start()
        try:
            await worker.wait_idle(timeout=20)
        finally:
            await worker.stop()

    asyncio.run(run())
    sent = [r for r in sandbox.requests() if r["status"] == 200]
    assert len(sent) == 4
    assert sent[0]["retry_key"] in emergency_keys
    assert len(sandbox.deliveries(resident.line_user_id)) == 1


@contextmanager
def running_worker(engine: Engine, settings: Settings) -> Iterator[DeliveryWorker]:
    """A DeliveryWorker on its own loop in a thread, beside the API, as `serve` runs it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    worker = DeliveryWorker(engine, settings, poll_interval=0.02)
    asyncio.run_coroutine_threadsafe(worker.start(), loop).result(10)
    try:
        yield worker
    finally:
        asyncio.run_coroutine_threadsafe(worker.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_an_order_holds_normal_sends_only_while_it_is_being_queued(
    client: TestClient,
    tokens: dict[str, str],
    engine: Engine,
    tmp_path: Path,
    make_resident: Callable[..., Resident],
    sandbox: SandboxThread,
) -> None:
    resident = make_resident(district="北")
    normal = new_broadcast(engine, title="イベントのお知らせ")
    assert normal.id is not None
    # One request in flight: with two, both go out together and the sandbox may read the
    # notice's first (arrival order is the network's, not the worker's).
    one_at_a_time = line_settings(tmp_path, sandbox.url, **{"line.max_in_flight": 1})
    with running_worker(engine, one_at_a_time) as worker:
        client.app.state.worker = worker
        response = client.post(
            "/api/v1/emergencies",
            headers=auth(tokens["危機管理課"]),
            json={"level": 4, "districts": ["北"], "kind": "洪水"},
        )
        assert response.status_code == 201, response.text
        dispatch_now(engine, normal.id, text_plan("イベントのお知らせ"))
        # Held for the order, the notice would wait 10 s: it goes at once.
        loop = worker._loop
        assert loop is not None
        asyncio.run_coroutine_threadsafe(worker.wait_idle(3), loop).result(5)
        client.app.state.worker = None
    texts = [messages[0]["text"] for messages in received(sandbox, resident.line_user_id)]
    assert len(texts) == 2 and "避難指示" in texts[0] and texts[1] == "イベントのお知らせ"
