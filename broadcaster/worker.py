"""The delivery worker: claims due batches from the outbox and sends them to LINE.

Claiming is one conditional UPDATE (… WHERE id IN (due batches, highest priority first)
AND still claimable … RETURNING): on PostgreSQL the inner select takes `FOR UPDATE SKIP
LOCKED`, so replicas never wait on each other; on SQLite the single writer makes the
statement atomic. The returned rows are exactly what this worker won. A claim carries a
lease; a worker that dies leaves leases that expire, and any worker takes those batches
over. Because a batch keeps its retry key for life, a takeover that resends a request
LINE already accepted gets 409, which counts as sent: nobody receives it twice.

Several requests are in flight at once (settings.line.max_in_flight) so LINE's rate limit,
not the round trip, sets the pace. Emergency batches are claimed first, may be claimed
even when every slot is busy, and take tokens before normal batches.

Database work runs on helper threads (claims on one; results on another where the
database takes writers side by side), so a slow commit never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcasts import Priority
from broadcaster.clock import as_utc, utcnow
from broadcaster.db import table_of
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.progress import finish_if_done
from broadcaster.retry import Action, Decision, RetryPolicy, decide, may_send
from broadcaster.sender import LineSender, OutgoingBatch, Pacer
from broadcaster.settings import Settings
from broadcaster.transport import Accepted, DeliveryError

log = logging.getLogger(__name__)
T = TypeVar("T")

_BATCH = table_of(Batch)
_DELIVERY = table_of(Delivery)


@dataclass(frozen=True, slots=True)
class Claimed:
    batch: OutgoingBatch
    attempts: int  # including the attempt this claim is for
    first_attempt_at: datetime


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    t = _BATCH.c
    return sa.and_(
        t.status == BatchStatus.pending.value,
        sa.or_(t.next_attempt_at.is_(None), t.next_attempt_at <= now),
        sa.or_(t.lease_until.is_(None), t.lease_until < now),
    )


def claim_batches(
    connection: Connection,
    owner: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    *,
    emergency_only: bool = False,
) -> list[Claimed]:
    """Claim up to `limit` due batches (priority, then id) for `owner`; the caller commits.

    Each claim counts an attempt and stamps `first_attempt_at` before any HTTP call, so a
    crash after the request left still knows the key's age.
    """
    t = _BATCH.c
    due = _claimable(now)
    if emergency_only:
        due = sa.and_(due, t.priority >= int(Priority.emergency))
    candidates = sa.select(t.id).where(due).order_by(t.priority.desc(), t.id).limit(limit)
    chosen: Any
    if connection.dialect.name == "postgresql":
        # Lock the chosen rows first: PostgreSQL may rescan a LIMIT subquery inside an
        # UPDATE, which can claim more than `limit` rows.
        chosen = connection.execute(candidates.with_for_update(skip_locked=True)).scalars().all()
        if not chosen:
            return []
    else:
        # One statement: SQLite's single writer makes select-and-update atomic.
        chosen = candidates.scalar_subquery()
    statement = (
        sa.update(_BATCH)
        .where(t.id.in_(chosen), _claimable(now))
        .values(
            lease_owner=owner,
            lease_until=now + lease,
            attempts=t.attempts + 1,
            first_attempt_at=sa.func.coalesce(t.first_attempt_at, now),
        )
        .returning(
            t.id,
            t.broadcast_id,
            t.endpoint,
            t.messages,
            t.recipients,
            t.retry_key,
            t.priority,
            t.attempts,
            t.first_attempt_at,
        )
    )
    rows = connection.execute(statement).all()
    claimed = [
        Claimed(
            OutgoingBatch(
                r.id, r.broadcast_id, r.endpoint, r.messages, r.recipients, r.retry_key, r.priority
            ),
            r.attempts,
            as_utc(r.first_attempt_at),
        )
        for r in rows
    ]
    claimed.sort(key=lambda c: (-c.batch.priority, c.batch.id))
    return claimed


def record_outcome(
    connection: Connection,
    owner: str,
    claimed: Claimed,
    outcome: Accepted | DeliveryError | None,
    decision: Decision,
    now: datetime,
    *,
    finish: bool = True,
) -> bool:
    """Store one attempt's result for the batch and its deliveries; the caller commits.

    Guarded by the lease: a worker whose lease was taken over writes nothing (the new
    owner's attempt, under the same retry key, decides). Returns whether it was written.
    With `finish=False` the caller checks whether the broadcast is finished (once per
    group of outcomes, see `record_outcomes`).
    """
    t = _BATCH.c
    batch_id = claimed.batch.id
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
    delivery_status: DeliveryStatus | None = None
    delivery_error: str | None = None
    if decision.action is Action.accept:
        assert isinstance(outcome, Accepted)
        values.update(
            status=BatchStatus.accepted.value,
            accepted_at=now,
            line_request_id=outcome.line_request_id,
            next_attempt_at=None,
        )
        delivery_status = DeliveryStatus.accepted
    elif decision.action is Action.retry:
        values.update(next_attempt_at=decision.next_attempt_at, last_error=decision.reason)
    else:
        error = decision.reason
        if isinstance(outcome, DeliveryError) and outcome.body and outcome.body not in error:
            error = f"{error}\nLINE's answer: {outcome.body}"
        status = BatchStatus.failed if decision.action is Action.fail else BatchStatus.unknown
        values.update(status=status.value, last_error=error, next_attempt_at=None)
        delivery_status = (
            DeliveryStatus.failed if decision.action is Action.fail else DeliveryStatus.unknown
        )
        delivery_error = decision.reason[:1000]
    done = connection.execute(
        sa.update(_BATCH)
        .where(t.id == batch_id, t.lease_owner == owner, t.status == BatchStatus.pending.value)
        .values(**values)
    )
    if done.rowcount != 1:
        return False
    if delivery_status is not None:
        connection.execute(
            sa.update(_DELIVERY)
            .where(
                _DELIVERY.c.batch_id == batch_id, _DELIVERY.c.status == DeliveryStatus.queued.value
            )
            .values(
                status=delivery_status.value,
                accepted_at=now if delivery_status is DeliveryStatus.accepted else None,
                error=delivery_error,
            )
        )
        if finish:
            finish_if_done(connection, claimed.batch.broadcast_id, now)
    return True


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result waiting to be recorded."""

    claimed: Claimed
    outcome: Accepted | DeliveryError | None
    decision: Decision
    now: datetime


def record_outcomes(connection: Connection, owner: str, outcomes: list[Outcome]) -> int:
    """Store several attempts' results in the caller's transaction; returns how many were
    written. Each broadcast that settled a batch is checked for being finished once, at
    the latest of its outcomes' times, instead of once per batch."""
    written = 0
    settled: dict[int, datetime] = {}
    for item in outcomes:
        if record_outcome(
            connection, owner, item.claimed, item.outcome, item.decision, item.now, finish=False
        ):
            written += 1
            if item.decision.action is not Action.retry:
                broadcast_id = item.claimed.batch.broadcast_id
                settled[broadcast_id] = max(settled.get(broadcast_id, item.now), item.now)
    for broadcast_id, now in settled.items():
        finish_if_done(connection, broadcast_id, now)
    return written


def freeze_long_lived_objects() -> None:
    """Move everything alive now (modules, models, settings) out of the garbage collector's
    sight. A million-recipient dispatch allocates millions of small objects, and each full
    collection it triggers would otherwise rescan the whole heap: measured at 100k
    recipients, 12 us a row with a normal collector and 8 us after this."""
    gc.collect()
    gc.freeze()


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class DeliveryWorker:
    """Claims and sends batches until stopped. One per process (or per replica).

    `owner` names this worker's leases; a worker restarted under the same owner takes its
    own leases back at once instead of waiting for them to expire. `clock` is read for
    every claim and result (tests move time with it).

    Throughput comes from three habits: claims are made a quarter of the slots at a time
    rather than one per finished request; a slot is freed as soon as LINE answers (the
    result is recorded afterwards); and results finished within `record_linger` seconds
    of each other are recorded in one transaction, so the SQLite write lock is taken ten
    times a second, not once per batch, and the dispatch writing the rest of the outbox
    meanwhile is rarely kept waiting (1M recipients: 30 ms -> 11.3 s, 100 ms -> 10.4 s,
    against LINE's 10 s floor). A crash loses at most that much of recorded results; those
    batches are sent again under their retry keys and LINE answers 409.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        poll_interval: float = 0.1,
        lease_seconds: float | None = None,
        rand: Callable[[], float] = random.random,
        record_linger: float = 0.1,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = owner or default_owner()
        self.clock = clock
        self.poll_interval = poll_interval
        self.record_linger = record_linger
        line = settings.line
        self.lease = timedelta(
            seconds=lease_seconds
            if lease_seconds is not None
            else max(30.0, 3 * line.request_timeout_seconds)
        )
        self.policy = RetryPolicy.from_settings(line)
        self.rand = rand
        self.max_in_flight = line.max_in_flight
        # Claim again once this many slots are free (1 keeps the old one-by-one behaviour
        # for small settings, where it matters for emergency overtaking).
        self.refill = max(1, self.max_in_flight // 4)
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery-db")
        # Results are written on a thread of their own where the database takes writers
        # side by side: a group of results updates thousands of delivery rows (~50 ms on
        # PostgreSQL), and claims queued behind it left LINE's tokens unused while an
        # evacuation order waited to be claimed. SQLite has one writer whatever we do,
        # and a claim waiting in its busy handler sleeps longer than one waiting here.
        self._recording = (
            self._db
            if engine.dialect.name == "sqlite"
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery-rec")
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._holds = 0  # orders being queued that hold normal sends (loop thread only)
        self._wake = asyncio.Event()
        self._slots = asyncio.Event()
        self._stopping = False
        self._main: asyncio.Task[None] | None = None
        self._recorder: asyncio.Task[None] | None = None
        self._sender: LineSender | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._sending = 0  # claimed batches whose request has not been answered yet
        self._outcomes: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._recorded = asyncio.Event()
        self.sent_requests = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Take back this owner's old leases and start the claim loop in the background."""
        await self._in_db(self._release_own_leases)
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        # Build the SDK client (SSL context, aiohttp session: ~0.1-0.3 s of CPU) now, so
        # the first batch dispatched after start() is sent at once.
        self._sender = LineSender(self.settings)
        await self._sender.__aenter__()
        self._recorder = asyncio.create_task(self._record_loop(), name="delivery-recorder")
        self._main = asyncio.create_task(self._run(), name="delivery-worker")

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming, let requests in flight finish (up to `grace` s), cancel the rest.

        A cancelled batch keeps its lease and retry key: it is sent again (safely) later.
        Results already received are recorded before this returns.
        """
        self._stopping = True
        self._wake.set()
        if self._main is not None:
            await self._main
            self._main = None
        if self._inflight:
            grace = self.settings.line.request_timeout_seconds + 1 if grace is None else grace
            _, pending = await asyncio.wait(self._inflight, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._recorder is not None:
            self._recorded.set()
            self._recorder.cancel()
            await asyncio.gather(self._recorder, return_exceptions=True)
            self._recorder = None
        if self._outcomes:  # received but not yet written: write them now
            await self._flush_outcomes()
        if self._sender is not None:
            await self._sender.__aexit__(None, None, None)
            self._sender = None
        self._db.shutdown(wait=True)
        self._recording.shutdown(wait=True)

    def wake(self) -> None:
        """New work was committed: look for it now rather than at the next poll."""
        self._wake.set()

    def wake_from_thread(self) -> None:
        """`wake` for code running outside the worker's event loop (a request's thread
        dispatching an evacuation order, say)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def hold_normal_sends(self, seconds: float) -> None:
        """An emergency is about to be queued (callable from any thread): normal batches
        take no LINE tokens for up to `seconds`, so the tokens that refill meanwhile are
        there for the emergency's first requests, which then go at once instead of one
        every 5 ms. `release_normal_sends` ends the hold when its batches are written."""

        def hold(pacer: Pacer) -> None:
            self._holds += 1
            pacer.hold_normal(seconds)

        self._with_pacer(hold)

    def release_normal_sends(self) -> None:
        """One order is queued; normal sends resume once no other is being queued."""

        def release(pacer: Pacer) -> None:
            self._holds = max(0, self._holds - 1)
            if self._holds == 0:
                pacer.release_normal()

        self._with_pacer(release)

    def _with_pacer(self, call: Callable[[Pacer], None]) -> None:
        """Run `call` on the sender's pacer, in the worker's loop (the pacer is not
        thread-safe)."""

        def run() -> None:
            if self._sender is not None:
                call(self._sender.pacer)

        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(run)

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until no batch is pending (counting ones waiting for a retry) and nothing
        is in flight. Raises TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                if not self._inflight and await self._in_db(self._pending_count) == 0:
                    return
                await asyncio.sleep(self.poll_interval)

    # -- the loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        sender = self._sender
        assert sender is not None
        while not self._stopping:
            claimed = await self._claim()
            for item in claimed:
                self._sending += 1
                task = asyncio.create_task(self._deliver(sender, item))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if claimed and self.max_in_flight - self._sending >= self.refill:
                continue
            self._wake.clear()
            self._slots.clear()
            waiters = [asyncio.ensure_future(self._wake.wait())]
            if self.max_in_flight - self._sending < self.refill:
                waiters.append(asyncio.ensure_future(self._slots.wait()))
            _, pending = await asyncio.wait(
                waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()
        # Leave in-flight tasks to stop().

    async def _claim(self) -> list[Claimed]:
        free = self.max_in_flight - self._sending
        try:
            if free >= self.refill or (free > 0 and self._sending == 0):
                return await self._in_db(self._claim_sync, free, False)
            # The slots are (nearly) all busy: an emergency still gets in (it takes the
            # next token).
            return await self._in_db(self._claim_sync, self.max_in_flight, True)
        except sa.exc.SQLAlchemyError:
            log.exception("claiming batches failed; retrying at the next poll")
            return []

    async def _deliver(self, sender: LineSender, claimed: Claimed) -> None:
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._sending -= 1
                if self.max_in_flight - self._sending >= self.refill:
                    self._slots.set()

        try:
            now = self.clock()
            outcome: Accepted | DeliveryError | None
            if claimed.attempts > 1 and not may_send(claimed.first_attempt_at, now, self.policy):
                outcome = None
                decision = Decision(
                    Action.unknown,
                    "outcome unknown and LINE has forgotten the retry key (first tried "
                    f"{claimed.first_attempt_at.isoformat()}); not resent, to avoid a duplicate",
                )
            else:
                outcome = await sender.send(claimed.batch)
                self.sent_requests += 1
                now = self.clock()
                decision = decide(
                    outcome, claimed.attempts, claimed.first_attempt_at, now, self.policy, self.rand
                )
            release()
            if decision.action in (Action.fail, Action.unknown):
                log.warning(
                    "batch %s of broadcast %s: %s",
                    claimed.batch.id,
                    claimed.batch.broadcast_id,
                    decision.reason,
                )
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._outcomes.append((Outcome(claimed, outcome, decision, now), done))
            self._recorded.set()
            await done
            if decision.action is Action.retry:
                self._wake.set()
        finally:
            release()

    async def _record_loop(self) -> None:
        """Write results in groups: wait for the first, linger briefly for more, write all
        of them in one transaction."""
        while True:
            await self._recorded.wait()
            self._recorded.clear()
            if not self._outcomes:
                continue
            if self.record_linger > 0 and not self._stopping:
                await asyncio.sleep(self.record_linger)
            await self._flush_outcomes()

    async def _flush_outcomes(self) -> None:
        group, self._outcomes = self._outcomes, []
        items = [outcome for outcome, _ in group]
        for pause in (0.05, 0.2, 1.0, 5.0, None):
            try:
                await self._in_db(self._record_sync, items, executor=self._recording)
                break
            except sa.exc.SQLAlchemyError:
                if pause is None:
                    # The leases expire and the batches are retried under the same keys.
                    log.exception(
                        "could not record batches %s", [item.claimed.batch.id for item in items]
                    )
                    break
                await asyncio.sleep(pause)
        for _, done in group:
            if not done.done():
                done.set_result(None)

    # -- database (on the helper thread) -----------------------------------------------

    async def _in_db(
        self, fn: Callable[..., T], *args: Any, executor: ThreadPoolExecutor | None = None
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor or self._db, partial(fn, *args))

    def _claim_sync(self, limit: int, emergency_only: bool) -> list[Claimed]:
        with self.engine.begin() as connection:
            return claim_batches(
                connection,
                self.owner,
                self.clock(),
                limit,
                self.lease,
                emergency_only=emergency_only,
            )

    def _record_sync(self, outcomes: list[Outcome]) -> None:
        with self.engine.begin() as connection:
            record_outcomes(connection, self.owner, outcomes)

    def _release_own_leases(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(_BATCH)
                .where(
                    _BATCH.c.lease_owner == self.owner, _BATCH.c.status == BatchStatus.pending.value
                )
                .values(lease_owner=None, lease_until=None)
            )

    def _pending_count(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    sa.select(sa.func.count())
                    .select_from(_BATCH)
                    .where(_BATCH.c.status == BatchStatus.pending.value)
                ).scalar_one()
            )
