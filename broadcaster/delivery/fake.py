"""`FakeSender`: an in-process `Sender` for tests of our own delivery loop.

It records every request, answers from a script (accept by default; any `Accepted` or
`DeliveryError`, or an exception that escapes as a bug would), and remembers retry keys as
LINE does (a second request under an accepted key answers 409, counted as sent). Latency
is virtual: an answer can be held until the test releases it, so ordering (an emergency
overtaking queued work, a slot freed) is asserted through events, never sleeps.

The sandbox stays the test of the LINE seam; this is the test of everything before it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from broadcaster.delivery.answers import Accepted, DeliveryError
from broadcaster.delivery.port import OutgoingBatch

Answer = Accepted | DeliveryError | BaseException
Script = Callable[[OutgoingBatch, int], Answer | None]


@dataclass
class SentRequest:
    """One request as the fake received it; `attempt` counts requests under its key."""

    batch: OutgoingBatch
    attempt: int
    answer: Accepted | DeliveryError


@dataclass
class FakeSender:
    """Scriptable `Sender`. `answers`: queued answers used first, in order; `script`:
    called for each request (batch, attempt under its key) when the queue is empty, None
    meaning accept. `gate`: when set, every request waits for it (a held answer)."""

    answers: deque[Answer] = field(default_factory=deque)
    script: Script | None = None
    requests: list[SentRequest] = field(default_factory=list)
    accepted_keys: set[str] = field(default_factory=set)
    gate: asyncio.Event | None = None
    held_normal: int = 0
    opened: bool = False
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def queue(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def fail_next(self, count: int, status: int = 500) -> None:
        """The next `count` requests get LINE's error `status` (5xx and 429 retryable)."""
        permanent = status < 500 and status != 429
        self.queue(
            *(
                DeliveryError(f"LINE answered {status}", permanent=permanent, status=status)
                for _ in range(count)
            )
        )

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.opened = False

    def hold_normal(self, seconds: float) -> None:
        self.held_normal += 1

    def release_normal(self) -> None:
        self.held_normal -= 1

    async def send(self, batch: OutgoingBatch) -> Accepted | DeliveryError:
        if self.gate is not None:
            await self.gate.wait()
        attempt = 1 + sum(1 for r in self.requests if r.batch.retry_key == batch.retry_key)
        chosen = (
            self.answers.popleft()
            if self.answers
            else (self.script(batch, attempt) if self.script else None)
        )
        if isinstance(chosen, BaseException) and not isinstance(chosen, DeliveryError):
            raise chosen  # a bug in the sender, as the real one would let escape
        if chosen is None:
            chosen = Accepted(409 if batch.retry_key in self.accepted_keys else 200, None)
        if isinstance(chosen, Accepted):
            self.accepted_keys.add(batch.retry_key)
        self.requests.append(SentRequest(batch, attempt, chosen))
        self._arrived.set()
        return chosen

    # -- what tests ask ----------------------------------------------------------------

    def recipients(self) -> list[str]:
        """Every recipient of an accepted (first-time) request, with repeats."""
        return [
            user
            for request in self.requests
            if isinstance(request.answer, Accepted) and request.answer.status == 200
            for user in request.batch.recipients
        ]

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        """Until at least `count` requests arrived (TimeoutError after `timeout` s)."""
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()
