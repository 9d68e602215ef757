"""Sending through the real SDK to the sandbox: pacing, each retry class, failures, the
24 h rule, emergencies overtaking, and a dead worker's leases taken over."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcasts import Broadcast, BroadcastStatus, Priority
from broadcaster.delivery.worker import DeliveryWorker, claim_batches
from broadcaster.progress import broadcast_progress
from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxThread
from tests.delivery.scenario import deliver_all, dispatch_now, line_settings, text_plan


def _batches(engine: Engine, broadcast_id: int) -> list[Batch]:
    with Session(engine) as session:
        return list(session.exec(
            sa.select(Batch).where(Batch.broadcast_id == broadcast_id).order_by(Batch.id)
        ).scalars())  # type: ignore[call-overload]


def _progress(engine: Engine, broadcast_id: int) -> dict:  # type: ignore[type-arg]
    with Session(engine) as session:
        return broadcast_progress(session, broadcast_id)


def _assert_everyone_once(sandbox: SandboxThread, count: int) -> None:
    totals = sandbox.totals()
    assert totals["duplicates"] == 0 and sandbox.duplicates() == []
    assert totals["distinct_users"] == totals["recipients_served"] == count


def test_every_resident_is_served_once_and_the_broadcast_is_sent(
    engine: Engine, sandbox: SandboxThread, delivery_settings, residents, broadcast
) -> None:
    residents(1203, language=lambda n: "ja" if n % 2 else "en")
    b = broadcast()
    dispatch_now(engine, b.id, text_plan(fields=("language",)))
    deliver_all(engine, delivery_settings)
    _assert_everyone_once(sandbox, 1203)
    [delivery] = sandbox.deliveries("U" + f"{_first_user(engine):032x}")
    assert delivery["custom_aggregation_units"] == [f"b{b.id}"]
    progress = _progress(engine, b.id)
    assert progress["status"] == BroadcastStatus.sent and progress["progress"] == 1.0
    assert progress["deliveries"]["accepted"] == 1203 and progress["quota_consumed"] == 1203
    assert progress["renderings"] == 2 and progress["batches"]["accepted"] == 4


def _first_user(engine: Engine) -> int:
    with engine.connect() as connection:
        uid = connection.execute(sa.text("SELECT min(line_user_id) FROM resident")).scalar_one()
    return int(uid[1:], 16)


def test_pacing_keeps_under_the_rate_limit(
    engine: Engine, tmp_path: Path, residents, broadcast
) -> None:
    with SandboxThread(SandboxConfig(rate_limits={"multicast": 20.0})) as sandbox:
        settings = line_settings(tmp_path, sandbox.url, **{"rate_limits.multicast": 20.0})
        residents(500 * 30)
        b = broadcast()
        dispatch_now(engine, b.id, text_plan())
        start = time.monotonic()
        deliver_all(engine, settings)
        elapsed = time.monotonic() - start
        totals = sandbox.totals()
    assert totals["requests"]["multicast"] == {"200": 30}, "no 429 in a normal run"
    # 30 requests at 20/s with a one-token burst: at least 29/20 s.
    assert 1.4 <= elapsed < 3.5


def test_each_retry_class_is_retried_under_the_same_key(
    engine: Engine, sandbox: SandboxThread, tmp_path: Path, residents, broadcast
) -> None:
    settings = line_settings(tmp_path, sandbox.url, **{"line.request_timeout_seconds": 0.3})
    sandbox.set_faults(script=["500", "429", "slow", "drop", "lost_response"], slow_ms=600)
    residents(3)
    b = broadcast()
    dispatch_now(engine, b.id, text_plan())
    deliver_all(engine, settings)
    [batch] = _batches(engine, b.id)
    # The slow request was applied though we gave up waiting: the fifth attempt is told
    # so (409) and nobody gets it twice.
    assert batch.status == BatchStatus.accepted and batch.attempts == 5
    keys = {r["retry_key"] for r in sandbox.requests()}
    assert keys == {batch.retry_key}
    statuses = [r["status"] for r in sandbox.requests()]
    assert statuses == [500, 429, 200, 0, 409]
    accepted = [r for r in sandbox.requests() if r["status"] == 200]
    assert batch.line_request_id == accepted[0]["request_id"]
    _assert_everyone_once(sandbox, 3)
    assert _progress(engine, b.id)["deliveries"]["accepted"] == 3


def test_a_400_fails_the_batch_with_lines_error_and_no_retry(
    engine: Engine, sandbox: SandboxThread, delivery_settings, residents, broadcast
) -> None:
    residents(2)
    b = broadcast()
    plan = text_plan()
    dispatch_now(engine, b.id, type(plan)(plan.audience, (), lambda _: [
        {"type": "text", "text": "あ" * 5001}]))
    deliver_all(engine, delivery_settings)
    [batch] = _batches(engine, b.id)
    assert batch.status == BatchStatus.failed and batch.attempts == 1
    assert "messages[0].text" in (batch.last_error or "")
    assert len(sandbox.requests()) == 1
    progress = _progress(engine, b.id)
    assert progress["status"] == BroadcastStatus.partially_failed
    assert progress["deliveries"]["failed"] == 2


def test_a_batch_older_than_the_key_memory_is_marked_unknown_not_resent(
    engine: Engine, sandbox: SandboxThread, delivery_settings, residents, broadcast
) -> None:
    residents(2)
    b = broadcast()
    t0 = datetime.now(UTC)
    dispatch_now(engine, b.id, text_plan(), now=t0)
    with engine.begin() as connection:  # an attempt whose answer was lost, then a long outage
        claim_batches(connection, "crashed", t0, 10, timedelta(seconds=1))
    later = t0 + timedelta(hours=25)
    deliver_all(engine, delivery_settings, clock=lambda: later)
    [batch] = _batches(engine, b.id)
    assert batch.status == BatchStatus.unknown and "forgotten" in (batch.last_error or "")
    assert sandbox.requests() == []
    progress = _progress(engine, b.id)
    assert progress["deliveries"]["unknown"] == 2 and progress["needs_attention"]


def test_an_emergency_overtakes_a_queued_normal_broadcast(
    engine: Engine, tmp_path: Path, residents, broadcast
) -> None:
    with SandboxThread(SandboxConfig(rate_limits={"multicast": 20.0})) as sandbox:
        settings = line_settings(tmp_path, sandbox.url, **{
            "rate_limits.multicast": 20.0, "line.max_in_flight": 2})
        residents(500 * 20)
        normal = broadcast()
        dispatch_now(engine, normal.id, text_plan("通常"))
        urgent = broadcast(priority=Priority.emergency, kind="emergency")

        async def scenario() -> None:
            worker = DeliveryWorker(engine, settings, poll_interval=0.02)
            await worker.start()
            async with asyncio.timeout(10):  # the notice is going out
                while sandbox.totals()["accepted_requests"] < 2:
                    await asyncio.sleep(0.01)
            await asyncio.to_thread(dispatch_now, engine, urgent.id, text_plan("避難指示"))
            await worker.wait_idle(30)
            await worker.stop()

        asyncio.run(scenario())
    normal_batches = _batches(engine, normal.id)
    urgent_done = max(x.accepted_at for x in _batches(engine, urgent.id))  # type: ignore[type-var]
    urgent_start = min(x.created_at for x in _batches(engine, urgent.id))
    overtaken = [x for x in normal_batches if x.accepted_at > urgent_done]  # type: ignore[operator]
    sent_between = [x for x in normal_batches if urgent_start < x.accepted_at < urgent_done]  # type: ignore[operator]
    assert len(overtaken) >= 10, "normal work waited"
    assert len(sent_between) <= 3, "at most the requests already in flight"
    with Session(engine) as session:
        assert session.get(Broadcast, normal.id).status == BroadcastStatus.sent  # type: ignore[union-attr]


def test_a_dead_workers_lease_expires_and_another_worker_sends_the_batch(
    engine: Engine, sandbox: SandboxThread, delivery_settings, residents, broadcast
) -> None:
    residents(600)
    b = broadcast()
    now = datetime.now(UTC)
    dispatch_now(engine, b.id, text_plan(), now=now)
    with engine.begin() as connection:
        dead = claim_batches(connection, "dead-replica", now, 10, timedelta(seconds=1))
    assert len(dead) == 2
    after_lease = now + timedelta(seconds=2)
    deliver_all(engine, delivery_settings, owner="survivor", clock=lambda: after_lease)
    assert {x.status for x in _batches(engine, b.id)} == {BatchStatus.accepted}
    # The dead replica's claims recorded no request: only the survivor's attempt counts.
    assert {x.attempts for x in _batches(engine, b.id)} == {1}
    _assert_everyone_once(sandbox, 600)
