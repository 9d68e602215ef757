"""`X-Line-Retry-Key` memory.

LINE remembers a key for 24 hours after its first use; once a request with the key was
accepted, every later one gets 409 with the accepted request's id and delivers nothing.
Failed attempts (400, 429, 5xx) do not consume the key, so a retry after a 500 is applied.

Our reading for a key accepted on one endpoint and then sent to another: LINE describes
the key as identifying one request, so reusing it for a different request is a client
bug, answered 400 rather than 409 (409 would tell the client "your request went through").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

# Only these endpoints take a retry key; anywhere else LINE answers 400.
RETRYABLE_ENDPOINTS = frozenset({"push", "multicast", "broadcast", "narrowcast"})


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class AcceptedKey:
    endpoint: str
    request_id: str
    accepted_at: float
    # Push's 409 repeats the original sentMessages.
    sent_messages: list[dict[str, Any]] | None


class RetryKeyMemory:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._keys: dict[str, AcceptedKey] = {}

    def lookup(self, key: str, now: float) -> AcceptedKey | None:
        """The accepted request for `key`, or None if unknown or forgotten (older than TTL)."""
        found = self._keys.get(key)
        if found is None:
            return None
        if now - found.accepted_at >= self.ttl_s:
            del self._keys[key]
            return None
        return found

    def remember(self, key: str, accepted: AcceptedKey) -> None:
        self._keys[key] = accepted

    def reset(self) -> None:
        self._keys.clear()

    def __len__(self) -> int:
        return len(self._keys)
