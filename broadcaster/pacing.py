"""Token buckets: LINE's rate-limit model, used by the sandbox to enforce it and by our
senders to stay under it.

LINE limits each endpoint per channel with a token bucket (tokens refill gradually; an
empty bucket answers 429), so mirroring the same model client-side lets us pace right
up to the limit without crossing it.

`TokenBucket` is pure: the caller passes the time. `AsyncTokenBucket` is the edge that
reads `time.monotonic()` and sleeps. It has two lanes: an emergency waiter is always
served before any normal waiter that has not yet taken its tokens (strict priority; a
normal waiter can starve while emergencies keep arriving, which is the point). Within a
lane waiters are served first come, first served, so several coroutines sharing one
bucket never take more than `rate` tokens per second plus the initial `capacity`.

While an emergency is being prepared (its batches not yet written) the normal lane can be
held: the tokens normal sends would have used stay in the bucket, up to its capacity, and
the emergency's first requests take them at once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


class TokenBucket:
    """A bucket holding at most `capacity` tokens, refilled at `rate` tokens per second.

    It starts full. Time is whatever monotonic clock the caller uses, in seconds; the
    first call fixes the origin, and a clock going backwards is treated as no time passed.
    """

    __slots__ = ("_last", "_tokens", "capacity", "rate")

    def __init__(self, rate: float, capacity: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        if capacity <= 0:
            raise ValueError(f"capacity must be > 0, got {capacity}")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._tokens = float(capacity)
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        if self._last is None:
            self._last = now
            return
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
            self._last = now

    def tokens(self, now: float) -> float:
        """Tokens available at `now` (refills as a side effect)."""
        self._refill(now)
        return self._tokens

    def take(self, now: float, n: float = 1) -> bool:
        """Take `n` tokens if they are all available at `now`; never takes a partial amount."""
        self._refill(now)
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def wait_time(self, now: float, n: float = 1) -> float:
        """Seconds from `now` until `n` tokens are available (0 if they already are).

        Raises ValueError when `n` exceeds the capacity: such a request can never succeed.
        """
        if n > self.capacity:
            raise ValueError(f"cannot wait for {n} tokens; capacity is {self.capacity}")
        self._refill(now)
        missing = n - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def reset(self) -> None:
        """Refill to capacity, as if the bucket were new."""
        self._tokens = self.capacity
        self._last = None


@dataclass(eq=False)
class _Waiter:
    n: float
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class AsyncTokenBucket:
    """A `TokenBucket` that coroutines wait on, with an emergency lane served first.

    Only the waiter at the head (first emergency waiter, else first normal waiter) may
    take tokens, and taking is synchronous on the event loop, so concurrent acquirers
    cannot overshoot the rate. Not thread-safe: use one per event loop.
    """

    def __init__(
        self,
        rate: float,
        capacity: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bucket = TokenBucket(rate, capacity)
        self._clock = clock
        self._emergency: deque[_Waiter] = deque()
        self._normal: deque[_Waiter] = deque()
        self._held_until = 0.0

    def hold_normal(self, seconds: float) -> None:
        """Serve no normal waiter for `seconds`, or until `release_normal`."""
        self._held_until = self._clock() + seconds

    def release_normal(self) -> None:
        self._held_until = 0.0
        self._wake_head()

    def _held(self, now: float) -> float:
        """Seconds the normal lane stays held (0: not held)."""
        return max(0.0, self._held_until - now)

    def _head(self) -> _Waiter | None:
        if self._emergency:
            return self._emergency[0]
        if self._normal and not self._held(self._clock()):
            return self._normal[0]
        return None

    def _wake_head(self) -> None:
        head = self._head()
        if head is not None:
            head.wake.set()

    async def acquire(self, n: float = 1, *, emergency: bool = False) -> None:
        """Wait until `n` tokens are taken for the caller.

        `emergency=True` puts the caller ahead of every normal waiter. Cancellation while
        waiting takes no tokens. Raises ValueError if `n` exceeds the capacity.
        """
        if n > self.bucket.capacity:
            raise ValueError(f"cannot acquire {n} tokens; capacity is {self.bucket.capacity}")
        waiter = _Waiter(n)
        lane = self._emergency if emergency else self._normal
        lane.append(waiter)
        # An emergency arriving may have displaced a sleeping normal head; that head will
        # notice it lost its place when its timer fires, so nothing else to do here.
        try:
            while True:
                delay: float | None = None
                if self._head() is waiter:
                    now = self._clock()
                    if self.bucket.take(now, n):
                        return
                    delay = self.bucket.wait_time(now, n)
                elif not self._emergency and self._normal and self._normal[0] is waiter:
                    delay = self._held(self._clock()) or None  # wake when the hold ends
                waiter.wake.clear()
                try:
                    async with asyncio.timeout(delay):
                        await waiter.wake.wait()
                except TimeoutError:
                    pass
        finally:
            lane.remove(waiter)
            self._wake_head()

    def try_acquire(self, n: float = 1) -> bool:
        """Take `n` tokens now if nobody is waiting and they are available."""
        if self._head() is not None:
            return False
        return self.bucket.take(self._clock(), n)


def floor_seconds(recipients: int, per_request: int, rate: float) -> float:
    """The fastest possible time to reach `recipients` at `rate` requests per second.

    LINE's multicast takes 500 recipients a request at 200 requests/s, so one million
    residents take at least ceil(1e6/500)/200 = 10 seconds.
    """
    return math.ceil(recipients / per_request) / rate
