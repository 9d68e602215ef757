"""Whether and when to try a batch again: a pure decision, no I/O, time as an argument.

The rules (design principle 2): retry 5xx, 429 and lost answers with exponential backoff
and full jitter, always under the batch's original retry key; a 409 is a success; any
other 4xx fails the batch. LINE forgets a retry key 24 hours after the first attempt, so a
batch whose outcome is unknown is never resent after that: it becomes `unknown` for staff
to check, because resending could deliver it twice.

The monthly quota (429 "You have reached your monthly limit.") is classified permanent in
`transport.classify`: hammering cannot help before the plan changes, and a city notice
sent days late is worse than a clear failure that staff can resend. The batch fails with
a message saying so.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from broadcaster.delivery.answers import Accepted, DeliveryError
from broadcaster.settings import LineSettings

# Never start an attempt this close to the moment LINE forgets the key: the request may
# reach LINE after it did.
KEY_SAFETY_MARGIN = timedelta(minutes=5)


class Action(StrEnum):
    accept = "accept"
    retry = "retry"
    fail = "fail"
    unknown = "unknown"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_base: float = 0.5
    backoff_max: float = 60.0
    key_memory: timedelta = timedelta(hours=24)

    @classmethod
    def from_settings(cls, line: LineSettings) -> RetryPolicy:
        return cls(
            max_attempts=line.max_attempts,
            backoff_base=line.backoff_base_seconds,
            backoff_max=line.backoff_max_seconds,
            key_memory=timedelta(hours=line.retry_key_memory_hours),
        )

    def key_expires(self, first_attempt_at: datetime) -> datetime:
        """The last moment an attempt may start under a key first used at `first_attempt_at`."""
        return first_attempt_at + self.key_memory - min(KEY_SAFETY_MARGIN, self.key_memory / 10)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""
    next_attempt_at: datetime | None = None


def backoff(attempts: int, policy: RetryPolicy, rand: Callable[[], float]) -> float:
    """Full jitter: uniform in [0, min(max, base * 2^(attempts-1))] seconds."""
    ceiling = min(policy.backoff_max, policy.backoff_base * 2 ** max(0, attempts - 1))
    return rand() * ceiling


def may_send(first_attempt_at: datetime | None, now: datetime, policy: RetryPolicy) -> bool:
    """Whether an attempt may start now: never-tried, or LINE still remembers the key."""
    return first_attempt_at is None or now < policy.key_expires(first_attempt_at)


def decide(
    outcome: Accepted | DeliveryError,
    attempts: int,
    first_attempt_at: datetime,
    now: datetime,
    policy: RetryPolicy,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """What to do after attempt number `attempts` (1-based) ended with `outcome` at `now`."""
    if isinstance(outcome, Accepted):
        return Decision(Action.accept)
    if outcome.permanent:
        return Decision(Action.fail, outcome.message)
    # Ambiguous (no answer): LINE may have applied it, so giving up means "unknown".
    give_up = Action.unknown if outcome.ambiguous else Action.fail
    if attempts >= policy.max_attempts:
        return Decision(give_up, f"gave up after {attempts} attempts; last: {outcome.message}")
    at = now + timedelta(seconds=backoff(attempts, policy, rand))
    if not may_send(first_attempt_at, at, policy):
        return Decision(
            Action.unknown if outcome.ambiguous or attempts > 1 else give_up,
            "LINE has forgotten this batch's retry key (first tried "
            f"{first_attempt_at.isoformat()}); resending could deliver it twice. "
            f"Last: {outcome.message}",
        )
    return Decision(Action.retry, outcome.message, at)
