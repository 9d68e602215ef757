"""The delivery worker: claims due batches from the outbox and sends them through a Sender.

Several requests are in flight at once (settings.line.max_in_flight) so LINE's rate limit,
not the round trip, sets the pace. Emergency batches are claimed first, may be claimed
even when every slot is busy, and take tokens before normal batches; while the emergency
gate is closed (an order being queued) the sender holds its normal lane.

Database work runs on helper threads (claims on one; results on another where the
database takes writers side by side), so a slow commit never stalls the event loop.
The worker only knows the `Sender` port: tests of this loop use `fake.FakeSender`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from broadcaster.clock import utcnow
from broadcaster.delivery.answers import Accepted, DeliveryError
from broadcaster.delivery.claims import (
    BATCH,
    Claimed,
    Outcome,
    claim_batches,
    pending_count,
    record_outcomes,
    release_leases,
)
from broadcaster.delivery.gate import EmergencyGate
from broadcaster.delivery.line import LineSender
from broadcaster.delivery.port import Sender
from broadcaster.delivery.retry import Action, Decision, RetryPolicy, decide, may_send
from broadcaster.replicas import lease_owner
from broadcaster.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long a closed gate holds normal sends at most (it is opened explicitly long before).
HOLD_SECONDS = 10.0


class DeliveryWorker:
    """Claims and sends batches until stopped. One per process (or per replica).

    `owner` names this worker's leases (`replica:boot`); at start it takes back the leases
    of its replica's earlier boots at once (a process that restarted under the same
    replica id is that replica's successor) instead of waiting for them to expire.
    `clock` is read for every claim and result (tests move time with it).

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
        sender: Sender | None = None,
        gate: EmergencyGate | None = None,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        poll_interval: float = 0.1,
        lease_seconds: float | None = None,
        rand: Callable[[], float] = random.random,
        record_linger: float = 0.1,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = owner or lease_owner(settings)
        self.sender: Sender = sender or LineSender(settings)
        self.gate = gate
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
        self._wake = asyncio.Event()
        self._slots = asyncio.Event()
        self._stopping = False
        self._main: asyncio.Task[None] | None = None
        self._recorder: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._sending = 0  # claimed batches whose request has not been answered yet
        self._outcomes: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._recorded = asyncio.Event()
        self.sent_requests = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Take back this replica's old leases and start the claim loop in the background."""
        await self._in_db(self._release_predecessors)
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        # Open the sender (SDK client: SSL context, aiohttp session, ~0.1-0.3 s of CPU) now,
        # so the first batch dispatched after start() is sent at once.
        await self.sender.open()
        if self.gate is not None:
            self.gate.on_change(self._gate_changed)
            if self.gate.closed:
                self.sender.hold_normal(HOLD_SECONDS)
        self._recorder = asyncio.create_task(self._record_loop(), name="delivery-recorder")
        self._main = asyncio.create_task(self._run(), name="delivery-worker")

    def _gate_changed(self, closed: bool) -> None:
        """The gate closed or opened (from whichever thread queues the emergency)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def apply() -> None:
            if closed:
                self.sender.hold_normal(HOLD_SECONDS)
            else:
                self.sender.release_normal()
            self._wake.set()

        loop.call_soon_threadsafe(apply)

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
        await self.sender.close()
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
        sender = self.sender
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

    async def _deliver(self, sender: Sender, claimed: Claimed) -> None:
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
            # The key may have been used by an earlier claim (whose answer, if any, was lost):
            # once LINE has forgotten it, a resend could deliver twice.
            if not may_send(claimed.first_attempt_at, now, self.policy):
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

    def _release_predecessors(self) -> None:
        replica = self.owner.rsplit(":", 1)[0]
        with self.engine.begin() as connection:
            released = release_leases(
                connection,
                sa.and_(
                    BATCH.c.lease_owner.startswith(f"{replica}:", autoescape=True),
                    BATCH.c.lease_owner != self.owner,
                ),
            )
        if released:
            log.info("took back %d batch lease(s) of this replica's previous run", released)

    def _pending_count(self) -> int:
        with self.engine.connect() as connection:
            return pending_count(connection)
