"""Fault injection for the sending endpoints (push, multicast, broadcast, narrowcast).

Outcomes:
- `500` / `429`: answered with that status and LINE's body; nothing applied.
- `slow`: applied normally, answered after an extra `slow_ms`.
- `drop`: the connection is closed with no response and nothing applied (the request
  never reached LINE's application).
- `lost_response`: the request is applied and recorded, then the connection is closed
  with no response: the client cannot know it went through, which is why retry keys exist.

A `script` is consumed one entry per sending request that passed authentication and the
rate limit, before the random shares are drawn; a rate-limited request consumes nothing.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import replace
from enum import Enum

from broadcaster.sandbox.config import FaultConfig


class Outcome(Enum):
    OK = "ok"
    ERROR_500 = "500"
    ERROR_429 = "429"
    SLOW = "slow"
    DROP = "drop"
    LOST_RESPONSE = "lost_response"


_SHARES = (
    ("error_500", Outcome.ERROR_500),
    ("error_429", Outcome.ERROR_429),
    ("slow", Outcome.SLOW),
    ("drop", Outcome.DROP),
    ("lost_response", Outcome.LOST_RESPONSE),
)


class FaultPlan:
    """The current fault settings and the random source that draws from them."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self._rng = random.Random(seed)
        self.replace(config)

    def replace(self, config: FaultConfig) -> None:
        self.config = config
        # A copy: consuming the script must not change the caller's FaultConfig.
        self._script = deque(config.script)

    def current(self) -> FaultConfig:
        """The settings now in force, with only the script entries not yet consumed."""
        return replace(self.config, script=list(self._script))

    def next_outcome(self) -> Outcome:
        if self._script:
            return Outcome(self._script.popleft())
        roll = self._rng.random()
        threshold = 0.0
        for name, outcome in _SHARES:
            threshold += getattr(self.config, name)
            if roll < threshold:
                return outcome
        return Outcome.OK
