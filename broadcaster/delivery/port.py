"""The seam between the delivery loop and LINE: a `Sender` sends one batch.

The worker knows nothing about HTTP: it hands an `OutgoingBatch` to its sender and gets
back `Accepted` or a `DeliveryError` (see `answers`). The real sender (`line.LineSender`)
talks to LINE through the SDK; `fake.FakeSender` is an in-process stand-in for tests of
our own loop (claims, retries, priority), which then run in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from broadcaster.delivery.answers import Accepted, DeliveryError


@dataclass(frozen=True, slots=True)
class OutgoingBatch:
    """What a sender needs of a claimed batch."""

    id: int
    broadcast_id: int
    endpoint: str
    messages: list[dict[str, Any]]
    recipients: list[str]
    retry_key: str
    priority: int = 0

    @property
    def emergency(self) -> bool:
        return self.priority > 0


class Sender(Protocol):
    """Sends batches; `open` before the first and `close` after the last, in one loop."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, batch: OutgoingBatch) -> Accepted | DeliveryError:
        """One attempt, paced to LINE's limits (emergencies first), classified.

        Never raises for anything LINE or the network did; cancellation propagates.
        """
        ...

    def hold_normal(self, seconds: float) -> None:
        """Keep LINE's tokens for an emergency being queued (see `gate`)."""
        ...

    def release_normal(self) -> None: ...
