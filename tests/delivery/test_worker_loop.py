"""The delivery loop against our own FakeSender: claims, retries, priority, the gate and
leases, in milliseconds and without a server (the sandbox tests the LINE seam)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from broadcaster.batches import BatchStatus
from broadcaster.broadcasts import Priority
from broadcaster.delivery.claims import claim_batches
from broadcaster.delivery.fake import FakeSender
from broadcaster.delivery.gate import EmergencyGate
from broadcaster.delivery.worker import DeliveryWorker
from broadcaster.settings import Settings
from tests.delivery.scenario import dispatch_now, line_settings, text_plan

NOWHERE = "http://127.0.0.1:9"  # never called: the fake sends


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return line_settings(tmp_path, NOWHERE, **overrides)


def _run(engine: Engine, settings: Settings, sender: FakeSender,
         body: Callable[[DeliveryWorker], Awaitable[None]] | None = None,
         **worker_args: Any) -> DeliveryWorker:
    async def main() -> DeliveryWorker:
        worker = DeliveryWorker(engine, settings, sender=sender, poll_interval=0.01,
                                record_linger=0, **worker_args)
        await worker.start()
        try:
            if body is not None:
                await body(worker)
            await worker.wait_idle(10)
        finally:
            await worker.stop()
        return worker

    return asyncio.run(main())


def test_emergency_batches_are_sent_before_normal_ones_queued_earlier(
    engine: Engine, tmp_path: Path, residents, broadcast
) -> None:
    residents(1500)
    normal = broadcast()
    dispatch_now(engine, normal.id, text_plan("通常"))
    urgent = broadcast(priority=Priority.emergency, kind="emergency")
    dispatch_now(engine, urgent.id, text_plan("避難指示"))
    sender = FakeSender()
    _run(engine, _settings(tmp_path, **{"line.max_in_flight": 1}), sender)
    order = [request.batch.broadcast_id for request in sender.requests]
    assert order == [urgent.id] * 3 + [normal.id] * 3
    assert len(sender.recipients()) == 3000 and len(set(sender.recipients())) == 1500


def test_retryable_answers_are_retried_under_the_same_key_and_each_request_counts_once(
    engine: Engine, tmp_path: Path, residents, broadcast, batches
) -> None:
    residents(10)
    b = broadcast()
    dispatch_now(engine, b.id, text_plan())
    sender = FakeSender()
    sender.fail_next(2, status=500)
    _run(engine, _settings(tmp_path), sender)
    assert [r.attempt for r in sender.requests] == [1, 2, 3]
    assert len({r.batch.retry_key for r in sender.requests}) == 1
    [batch] = batches(b.id)
    assert batch.status == BatchStatus.accepted and batch.attempts == 3


def test_a_permanent_refusal_fails_the_batch_after_one_request(
    engine: Engine, tmp_path: Path, residents, broadcast, batches
) -> None:
    residents(3)
    b = broadcast()
    dispatch_now(engine, b.id, text_plan())
    sender = FakeSender()
    sender.fail_next(1, status=400)
    _run(engine, _settings(tmp_path), sender)
    [batch] = batches(b.id)
    assert len(sender.requests) == 1
    assert batch.status == BatchStatus.failed and batch.attempts == 1


def test_the_gate_holds_normal_sends_while_any_order_is_being_queued(
    engine: Engine, tmp_path: Path
) -> None:
    gate = EmergencyGate()
    sender = FakeSender()
    seen: list[int] = []

    async def body(worker: DeliveryWorker) -> None:
        async def settle() -> None:  # the worker applies gate changes on its loop
            for _ in range(3):
                await asyncio.sleep(0)

        gate.entered()
        gate.entered()  # a second order at once
        await settle()
        seen.append(sender.held_normal)
        gate.left()  # one of the two is queued: still held
        await settle()
        seen.append(sender.held_normal)
        gate.left()
        await settle()
        seen.append(sender.held_normal)

    _run(engine, _settings(tmp_path), sender, body, gate=gate)
    assert seen == [1, 1, 0]


def test_a_restarted_replica_takes_back_its_dead_predecessors_leases_at_once(
    engine: Engine, tmp_path: Path, residents, broadcast, batches
) -> None:
    residents(600)
    b = broadcast()
    now = datetime.now(UTC)
    dispatch_now(engine, b.id, text_plan(), now=now)
    with engine.begin() as connection:  # the previous boot of replica "town-1" died here
        claim_batches(connection, "town-1:deadboot", now, 10, timedelta(minutes=10))
    sender = FakeSender()
    _run(engine, _settings(tmp_path), sender, owner="town-1:newboot")
    assert len(sender.requests) == 2, "no need to wait for the 10 minute leases"
    assert {batch.status for batch in batches(b.id)} == {BatchStatus.accepted}


def test_another_replicas_leases_are_left_until_they_expire(
    engine: Engine, tmp_path: Path, residents, broadcast, batches
) -> None:
    residents(10)
    b = broadcast()
    now = datetime.now(UTC)
    dispatch_now(engine, b.id, text_plan(), now=now)
    with engine.begin() as connection:
        claim_batches(connection, "town-2:alive", now, 10, timedelta(minutes=10))
        assert claim_batches(connection, "town-1:boot", now, 10, timedelta(minutes=10)) == []
    sender = FakeSender()
    # Another replica's lease is not this replica's to release at start: only once it
    # has expired is the batch taken over.
    later = now + timedelta(minutes=11)
    _run(engine, _settings(tmp_path), sender, owner="town-1:boot", clock=lambda: later)
    assert len(sender.requests) == 1
    assert [batch.status for batch in batches(b.id)] == [BatchStatus.accepted]
