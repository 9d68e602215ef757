"""The fast paths keep the guarantees: bodies whose payload the SDK validated once carry
exactly the batch's recipients, bad batches are still refused before any
HTTP call, and results recorded in groups settle every batch and finish the broadcast."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.deliveries import Delivery
from broadcaster.delivery.answers import Accepted, DeliveryError
from broadcaster.delivery.line import LineSender, OutgoingBatch
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import Settings
from tests.delivery.scenario import deliver_all, dispatch_now, ledgered, text_plan, user_id

MESSAGES = [{"type": "text", "text": "断水のお知らせ"}]


def _batch(recipients: Any, *, batch_id: int = 1, messages: Any = None) -> OutgoingBatch:
    return OutgoingBatch(batch_id, 7, "multicast", messages or MESSAGES, recipients,
                         f"00000000-0000-4000-8000-{batch_id:012d}")


def _with_sender(settings: Settings, body: Callable[[LineSender], Any]) -> Any:
    async def main() -> Any:
        sender = LineSender(settings)
        await sender.open()
        try:
            return await body(sender)
        finally:
            await sender.close()

    return asyncio.run(main())


def test_requests_from_one_template_carry_each_batchs_own_recipients(
    delivery_settings: Settings, sandbox: SandboxThread
) -> None:
    first = [user_id(n) for n in range(1, 501)]
    second = [user_id(n) for n in range(501, 731)]

    async def body(sender: LineSender) -> list[Any]:
        one = sender.checked_body(_batch(first))
        two = sender.checked_body(_batch(second, batch_id=2))
        assert len(sender._validated) == 1, "one validation per payload"
        assert one["to"] == first and two["to"] == second
        assert two["customAggregationUnits"] == ["b7"]
        return [await sender.send(_batch(first)), await sender.send(_batch(second, batch_id=2))]

    outcomes = _with_sender(delivery_settings, body)
    assert all(isinstance(outcome, Accepted) for outcome in outcomes)
    totals = sandbox.totals()
    assert totals["recipients_served"] == totals["distinct_users"] == 730
    assert totals["duplicates"] == 0


def test_a_batch_the_sdk_would_refuse_fails_permanently_without_a_request(
    delivery_settings: Settings, sandbox: SandboxThread
) -> None:
    too_many = [user_id(n) for n in range(1, 502)]
    bad_cases = [
        _batch(too_many),
        _batch([]),
        _batch([user_id(1), 42]),
        _batch([user_id(1)], messages=[{"type": "text"}]),
        _batch([user_id(1)], messages=[MESSAGES[0]] * 6),
    ]

    async def body(sender: LineSender) -> list[Any]:
        return [await sender.send(batch) for batch in bad_cases]

    outcomes = _with_sender(delivery_settings, body)
    assert all(isinstance(o, DeliveryError) and o.permanent for o in outcomes), outcomes
    assert sandbox.requests() == []


def test_results_recorded_in_groups_settle_every_batch_and_finish_the_broadcast(
    engine: Engine, sandbox: SandboxThread, delivery_settings: Settings, residents, broadcast
) -> None:
    residents(500 * 12 + 3)
    b = broadcast()
    dispatch_now(engine, b.id, text_plan(), chunk_batches=3)
    # A long linger makes every result of the run land in a few shared transactions.
    deliver_all(engine, delivery_settings, record_linger=0.2)
    assert ledgered(engine) == 500 * 12 + 3
    with Session(engine) as session:
        statuses = session.exec(sa.select(Batch.status).where(  # type: ignore[call-overload]
            Batch.broadcast_id == b.id)).scalars().all()
        accepted = session.exec(sa.select(sa.func.count()).select_from(Delivery).where(  # type: ignore[call-overload]
            Delivery.broadcast_id == b.id, Delivery.status == "accepted",
            Delivery.accepted_at.is_not(None))).scalar_one()  # type: ignore[union-attr]
        stored = session.get(Broadcast, b.id)
    assert statuses and set(statuses) == {BatchStatus.accepted} and len(statuses) == 13
    assert accepted == 500 * 12 + 3
    assert stored is not None and stored.status == BroadcastStatus.sent
    assert stored.quota_consumed == 500 * 12 + 3
    totals = sandbox.totals()
    assert totals["duplicates"] == 0 and totals["distinct_users"] == 500 * 12 + 3


def test_a_dispatch_resumed_after_a_crash_uses_the_anti_join_and_queues_nobody_twice(
    engine: Engine, residents, broadcast
) -> None:
    ids = residents(1200)
    b = broadcast()
    # A first run that committed some deliveries (as if it crashed after its first chunk).
    with engine.begin() as connection:
        connection.execute(sa.insert(Delivery.__table__), [
            {"broadcast_id": b.id, "resident_id": rid, "status": "queued"} for rid in ids[:300]])
    result = dispatch_now(engine, b.id, text_plan())
    assert result.recipients == 900 and result.recipients_total == 1200
