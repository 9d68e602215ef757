"""One rate limit per LINE channel and endpoint across every replica: a token bucket row in
PostgreSQL.

LINE limits each endpoint of a channel with a token bucket and asks senders that share a
channel to share one counter. Each replica pacing on its own (`pacing.AsyncTokenBucket`)
kept its own rate, and two replicas together sent twice it. Here the bucket is a row of
`rate_bucket` per (channel, endpoint): tokens, when they were counted, and until when
emergencies have the bucket to themselves. It is refilled lazily and taken from by one
statement (`TAKE`: the row is locked, refilled to now, a grant subtracted, all in one
round trip), so any number of replicas share it without a protocol of their own.

A replica takes small grants (GRANT_SECONDS of the rate, 5 tokens at LINE's 200/s), spends
them at once among its senders, and drops what it has not spent within GRANT_TTL: nothing
is hoarded for a later burst. So in any T seconds all replicas together send at most
capacity + rate x (T + GRANT_TTL) requests; with capacity = rate x BURST_SECONDS that is
T + 0.1 s worth of the rate, inside LINE's bucket, which holds a second's worth.

Emergencies first across replicas: an emergency take (granted or not) and a closed
emergency gate anywhere (`hold_normal`) move the row's `priority_until` a moment ahead;
until then every replica's normal takes get nothing, so the next tokens anywhere go to the
order. Within a replica an emergency waiter is served before any normal waiter.

SQLite has one process: it keeps the in-process `Pacer` (no round trip per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from broadcaster.batches import Endpoint
from broadcaster.db import UTCDateTime
from broadcaster.settings import RateLimitSettings, Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# The shared bucket holds 50 ms worth of tokens (as the in-process one does).
BURST_SECONDS = 0.05
# A grant is 25 ms worth: 40 round trips a second at LINE's full multicast rate.
GRANT_SECONDS = 0.025
# Unspent granted tokens are dropped after this long.
GRANT_TTL = 0.05
# How long one emergency take keeps normal takes out, in every replica.
PRIORITY_SECONDS = 0.1
# The longest a closed gate holds other replicas' normal takes through the database.
SHARED_HOLD_SECONDS = 2.0
# How often a waiter looks again when another replica's emergency holds the bucket.
HELD_POLL = 0.02


class RateBucket(SQLModel, table=True):
    """LINE's token bucket for one channel's endpoint, shared by every replica."""

    __tablename__ = "rate_bucket"

    key: str = Field(primary_key=True, max_length=80)  # "<channel digest>:<endpoint>"
    tokens: float = 0.0
    updated_at: datetime = Field(sa_type=UTCDateTime)
    priority_until: datetime = Field(sa_type=UTCDateTime)


# One round trip: lock the row, refill it to now, take the grant (all or nothing for a
# normal take; what there is for an emergency), move `priority_until` for an emergency.
TAKE = sa.text(
    """
    WITH cur AS (
        SELECT key, t, priority_until,
               LEAST(:capacity, tokens + :rate * EXTRACT(EPOCH FROM (t - updated_at))) AS avail
        FROM (
            SELECT key, tokens, updated_at, priority_until,
                   GREATEST(clock_timestamp(), updated_at) AS t
            FROM rate_bucket WHERE key = :key FOR UPDATE
        ) AS locked
    ), g AS (
        SELECT key, t, avail, priority_until,
               CASE WHEN NOT :emergency AND priority_until > t THEN 0
                    WHEN avail >= :want THEN :want
                    WHEN :emergency AND avail >= 1 THEN FLOOR(avail)
                    ELSE 0 END AS n
        FROM cur
    )
    UPDATE rate_bucket AS b
    SET tokens = g.avail - g.n,
        updated_at = g.t,
        priority_until = CASE WHEN :emergency
            THEN GREATEST(b.priority_until, g.t + make_interval(secs => :priority))
            ELSE b.priority_until END
    FROM g WHERE b.key = g.key
    RETURNING g.n AS granted, g.avail AS avail,
              GREATEST(0, EXTRACT(EPOCH FROM (g.priority_until - g.t))) AS held
    """
).bindparams(
    sa.bindparam("capacity", type_=sa.Float),
    sa.bindparam("rate", type_=sa.Float),
    sa.bindparam("want", type_=sa.Float),
    sa.bindparam("priority", type_=sa.Float),
    sa.bindparam("emergency", type_=sa.Boolean),
)
HOLD = sa.text(
    "UPDATE rate_bucket SET priority_until = "
    "GREATEST(priority_until, clock_timestamp() + make_interval(secs => :seconds)) "
    "WHERE key LIKE :prefix"
).bindparams(sa.bindparam("seconds", type_=sa.Float))
RELEASE = sa.text(
    "UPDATE rate_bucket SET priority_until = LEAST(priority_until, clock_timestamp()) "
    "WHERE key LIKE :prefix"
)
CREATE = sa.text(
    "INSERT INTO rate_bucket (key, tokens, updated_at, priority_until) "
    "VALUES (:key, 0, clock_timestamp(), clock_timestamp()) ON CONFLICT (key) DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class Grant:
    granted: int
    available: float
    held: float  # seconds another replica's emergency still keeps normal takes out


def channel_key(settings: Settings) -> str:
    """Names the channel without its token: the same for every replica sending to it."""
    line = settings.line
    seed = f"{line.api_base_url.rstrip('/')}\n{line.channel_access_token.get_secret_value()}"
    return hashlib.sha256(seed.encode()).hexdigest()[:24]


def take(
    connection: Connection,
    key: str,
    want: int,
    *,
    rate: float,
    capacity: float,
    emergency: bool,
) -> Grant:
    """Take up to `want` tokens from the shared bucket `key` (autocommit connection)."""
    row = connection.execute(
        TAKE,
        {
            "key": key,
            "want": float(want),
            "rate": rate,
            "capacity": capacity,
            "priority": PRIORITY_SECONDS,
            "emergency": emergency,
        },
    ).one()
    return Grant(int(row.granted), float(row.avail), float(row.held))


@dataclass
class _Lane:
    """One endpoint's shared bucket as this replica sees it."""

    key: str
    rate: float
    capacity: float
    grant: int
    tokens: int = 0
    expires: float = 0.0
    waiting: int = 0
    emergencies: int = 0
    retry_normal: float = 0.0  # no normal take before (monotonic)
    retry_emergency: float = 0.0
    held_until: float = 0.0  # this replica's gate is closed until then
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def spend(self, now: float) -> bool:
        if self.tokens > 0 and now < self.expires:
            self.tokens -= 1
            return True
        return False


class SharedPacer:
    """The `Pacer` of replicas on PostgreSQL: LINE's rate per channel and endpoint shared
    by all of them through `rate_bucket`. One per event loop (its lanes' locks)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        rates: RateLimitSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.clock = clock
        channel = channel_key(settings)
        self.prefix = f"{channel}:"
        rates = rates or settings.rate_limits
        self.lanes: dict[str, _Lane] = {}
        for endpoint, rate in ((Endpoint.multicast, rates.multicast), (Endpoint.push, rates.push)):
            capacity = max(1.0, rate * BURST_SECONDS)
            grant = max(1, min(int(capacity), math.ceil(rate * GRANT_SECONDS)))
            self.lanes[endpoint.value] = _Lane(f"{channel}:{endpoint.value}", rate, capacity, grant)
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rate-bucket")
        self._connection: Connection | None = None
        self.round_trips = 0
        self.round_trip_seconds = 0.0

    # -- lifecycle (LineSender opens and closes its pacer) -------------------------------

    async def open(self) -> None:
        await self._in_db(self._create)

    async def close(self) -> None:
        await self._in_db(self._disconnect)
        self._db.shutdown(wait=True)

    # -- the Pacer interface ---------------------------------------------------------------

    async def acquire(self, endpoint: str, *, emergency: bool) -> None:
        lane = self.lanes[endpoint]
        lane.waiting += 1
        lane.emergencies += emergency
        try:
            while True:
                now = self.clock()
                first = emergency or (not lane.emergencies and now >= lane.held_until)
                if first and lane.spend(now):
                    return
                if not first:
                    await asyncio.sleep(HELD_POLL)  # an emergency of ours goes first
                    continue
                async with lane.lock:
                    now = self.clock()
                    if lane.tokens > 0 and now < lane.expires:
                        continue
                    retry = lane.retry_emergency if emergency else lane.retry_normal
                    if now < retry:
                        delay = retry - now
                    else:
                        delay = await self._fetch(lane, emergency)
                        if delay == 0:
                            continue
                await asyncio.sleep(delay)
        finally:
            lane.waiting -= 1
            lane.emergencies -= emergency

    def hold_normal(self, seconds: float) -> None:
        """An emergency is being queued here: normal takes wait, here and in every replica."""
        until = self.clock() + seconds
        for lane in self.lanes.values():
            lane.held_until = until
        # Shorter in the database: a replica killed with its gate closed must not hold
        # the others' normal sends for long (the order's own takes renew the priority).
        self._background(self._hold, min(seconds, SHARED_HOLD_SECONDS))

    def release_normal(self) -> None:
        for lane in self.lanes.values():
            lane.held_until = 0.0
        self._background(self._release)

    # -- the database side -----------------------------------------------------------------

    async def _fetch(self, lane: _Lane, emergency: bool) -> float:
        """Take a grant into the lane; returns 0 when it got tokens, else how long to wait."""
        want = max(1, min(lane.grant, lane.waiting))
        try:
            grant = await self._in_db(self._take, lane, want, emergency or lane.emergencies > 0)
        except sa.exc.SQLAlchemyError:
            log.warning("the shared rate bucket could not be read; waiting", exc_info=True)
            return 0.5
        now = self.clock()
        if grant.granted:
            lane.tokens, lane.expires = grant.granted, now + GRANT_TTL
            return 0.0
        if grant.held and not emergency:
            delay = min(grant.held, HELD_POLL * 5)
        else:
            delay = max(0.001, (min(want, lane.capacity) - grant.available) / lane.rate)
        if emergency:
            lane.retry_emergency = now + delay
        else:
            lane.retry_normal = now + delay
        return delay

    async def _in_db(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    def _background(self, fn: Callable[..., object], *args: object) -> None:
        def done(future: Future[object]) -> None:
            if future.exception() is not None:
                log.warning("the shared rate bucket's hold failed: %s", future.exception())

        with contextlib.suppress(RuntimeError):  # closed: the sender is stopping
            self._db.submit(fn, *args).add_done_callback(done)

    def _conn(self) -> Connection:
        if self._connection is None:
            self._connection = self.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            )
        return self._connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _create(self) -> None:
        for lane in self.lanes.values():
            self._conn().execute(CREATE, {"key": lane.key})

    def _take(self, lane: _Lane, want: int, emergency: bool) -> Grant:
        started = time.perf_counter()
        try:
            return take(
                self._conn(), lane.key, want,
                rate=lane.rate, capacity=lane.capacity, emergency=emergency,
            )
        except sa.exc.DBAPIError:
            self._disconnect()  # a fresh connection next time
            raise
        finally:
            self.round_trips += 1
            self.round_trip_seconds += time.perf_counter() - started

    def _hold(self, seconds: float) -> None:
        self._conn().execute(HOLD, {"seconds": seconds, "prefix": f"{self.prefix}%"})

    def _release(self) -> None:
        self._conn().execute(RELEASE, {"prefix": f"{self.prefix}%"})
