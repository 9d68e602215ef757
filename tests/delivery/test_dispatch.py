"""The outbox: grouping by context, batches of at most 500, push for one, caps, resuming."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.batches import Batch
from broadcaster.broadcasts import Broadcast, BroadcastStatus, Priority
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.delivery.gate import EmergencyGate
from segments.residents import Resident
from tests.delivery.scenario import dispatch_now, ledgered, text_plan


def _batches(engine: Engine, broadcast_id: int) -> list[Batch]:
    with Session(engine) as session:
        return list(session.exec(
            sa.select(Batch).where(Batch.broadcast_id == broadcast_id).order_by(Batch.id)
        ).scalars())  # type: ignore[call-overload]


def test_recipients_are_grouped_by_context_and_cut_into_batches_of_500(
    engine: Engine, residents, broadcast
) -> None:
    residents(1203, language=lambda n: "ja" if n % 2 else "en")
    b = broadcast()
    result = dispatch_now(engine, b.id, text_plan(fields=("language",)), page_size=300)
    assert result.renderings == 2 and result.recipients_total == 1203
    batches = _batches(engine, b.id)
    sizes = Counter((batch.messages[0]["text"], batch.recipient_count) for batch in batches)
    assert sizes == Counter({("お知らせです ja", 500): 1, ("お知らせです ja", 101): 1,
                             ("お知らせです en", 500): 1, ("お知らせです en", 102): 1})
    assert len({batch.retry_key for batch in batches}) == 4
    with Session(engine) as session:
        stored = session.get(Broadcast, b.id)
        assert stored is not None
        assert stored.status == BroadcastStatus.sending and stored.renderings == 2
        assert stored.dispatched_at is not None and stored.recipients_total == 1203


def test_a_lone_recipient_goes_by_push_and_emergencies_carry_priority(
    engine: Engine, residents, broadcast
) -> None:
    residents(501)
    b = broadcast(priority=Priority.emergency)
    dispatch_now(engine, b.id, text_plan())
    batches = _batches(engine, b.id)
    assert [(x.endpoint, x.recipient_count) for x in batches] == [("multicast", 500), ("push", 1)]
    assert {x.priority for x in batches} == {Priority.emergency}


def test_residents_over_the_cap_are_skipped_and_counted(
    engine: Engine, residents, broadcast
) -> None:
    residents(10, district=lambda n: "北" if n % 2 else "南")
    b = broadcast()
    result = dispatch_now(engine, b.id, text_plan(over_cap=Resident.district == "北"))
    assert result.skipped_over_cap == 5
    ledgered(engine)
    with Session(engine) as session:
        stored = session.get(Broadcast, b.id)
        assert stored is not None and stored.skipped_over_cap == 5
        statuses = Counter(d.status for d in session.exec(
            sa.select(Delivery).where(Delivery.broadcast_id == b.id)).scalars())  # type: ignore[call-overload]
    assert statuses == {DeliveryStatus.skipped_cap: 5, DeliveryStatus.queued: 5}


def test_nobody_to_send_to_finishes_the_broadcast_at_once(engine: Engine, broadcast) -> None:
    b = broadcast()
    dispatch_now(engine, b.id, text_plan())
    with Session(engine) as session:
        stored = session.get(Broadcast, b.id)
        assert stored is not None and stored.status == BroadcastStatus.sent


def test_a_rerun_after_an_interrupted_dispatch_queues_nobody_twice(
    engine: Engine, residents, broadcast
) -> None:
    residents(1300, language=lambda n: "ja" if n % 10_000_000 < 700 else "en")
    b = broadcast()
    calls: list[str] = []
    plan = text_plan(fields=("language",))

    class Crash(BaseException):
        pass

    def render_then_crash(context):  # type: ignore[no-untyped-def]
        calls.append(context["language"])
        if len(calls) == 2:
            raise Crash  # like a SIGKILL: nothing after this runs
        return plan.render(context)

    crashing = type(plan)(plan.audience, plan.context_fields, render_then_crash)
    with contextlib.suppress(Crash):
        dispatch_now(engine, b.id, crashing, page_size=600, chunk_batches=1)
    first = _batches(engine, b.id)
    assert first, "some batches were committed before the crash"
    calls.clear()
    dispatch_now(engine, b.id, type(plan)(plan.audience, plan.context_fields, render_then_crash))
    assert calls == ["en"], "the context rendered before the crash is reused"
    ledgered(engine)
    with Session(engine) as session:
        ids = list(session.exec(sa.select(Delivery.resident_id).where(
            Delivery.broadcast_id == b.id)).scalars())  # type: ignore[call-overload]
        stored = session.get(Broadcast, b.id)
    assert len(ids) == len(set(ids)) == 1300
    assert stored is not None and stored.recipients_total == 1300
    assert sum(x.recipient_count for x in _batches(engine, b.id)) == 1300


class WatchedGate(EmergencyGate):
    """The real gate, telling the test when a dispatch starts waiting at it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait_clear(self, timeout: float) -> bool:
        if self.closed:
            self.waiting.set()
        return super().wait_clear(timeout)


def test_a_normal_dispatch_waits_at_the_gate_while_an_emergency_is_being_queued(
    engine: Engine, residents, broadcast
) -> None:
    """On one SQLite file the two dispatches would take turns for the write lock; the
    evacuation order must be queued first, whichever process is writing the notice."""
    residents(1200)
    now = datetime.now(UTC)
    notice = broadcast()
    gate = WatchedGate()
    gate.entered()  # an order is being queued
    writing = threading.Thread(
        target=dispatch_now, args=(engine, notice.id, text_plan(), now), kwargs={"gate": gate}
    )
    writing.start()
    try:
        assert gate.waiting.wait(10), "the notice's dispatch never reached the gate"
        assert _batches(engine, notice.id) == [], "nothing written while the gate is closed"
    finally:
        gate.left()  # the order is queued
        writing.join(10)
    assert not writing.is_alive()
    assert sum(batch.recipient_count for batch in _batches(engine, notice.id)) == 1200


def test_an_emergency_dispatch_never_waits_at_the_gate(
    engine: Engine, residents, broadcast
) -> None:
    residents(10)
    gate = WatchedGate()
    gate.entered()  # another order being queued
    order = broadcast(priority=Priority.emergency)
    result = dispatch_now(engine, order.id, text_plan(), datetime.now(UTC), gate=gate)
    assert result.recipients_total == 10 and not gate.waiting.is_set()
