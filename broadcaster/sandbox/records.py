"""What the sandbox delivered, to whom, and every request it answered.

Sized for a million recipients in one process: a delivery is a request index in a per-user
slot (an int, or a list of ints once a user has several); the request holds the payload,
interned so a payload shared by thousands of batches is stored once, and a user id of the
usual `U` + 32 hex form is stored as its 16 raw bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

UserKey = bytes | str


def user_key(user_id: str) -> UserKey:
    # Only lowercase hex round-trips through bytes unchanged, and LINE ids are lowercase.
    if len(user_id) == 33 and user_id[0] == "U" and user_id[1:] == user_id[1:].lower():
        try:
            return bytes.fromhex(user_id[1:])
        except ValueError:
            pass
    return user_id


def user_id_of(key: UserKey) -> str:
    return "U" + key.hex() if isinstance(key, bytes) else key


@dataclass(slots=True)
class AcceptedRequest:
    """A sending request that was applied; every delivery points at one of these."""

    endpoint: str
    request_id: str
    retry_key: str | None
    payload: str  # messages as canonical JSON, interned
    units: tuple[str, ...]
    # customAggregationUnits when given (our service sets ["b<broadcast_id>"]), else a hash
    # of the payload, so a duplicate means "same user got the same thing twice".
    dedupe_unit: str
    at: float
    recipients: int
    message_count: int


@dataclass(slots=True, frozen=True)
class LoggedRequest:
    at: float
    endpoint: str
    status: int
    request_id: str
    retry_key: str | None
    recipients: int
    # The injected fault, if any: "drop" (status 0: nothing applied, no answer),
    # "lost_response" (applied with `status`, but the client got no answer), "slow",
    # "500"/"429" (answered with that status by injection, not by a limit).
    fault: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "endpoint": self.endpoint,
            "status": self.status,
            "request_id": self.request_id,
            "retry_key": self.retry_key,
            "recipients": self.recipients,
            "fault": self.fault,
        }


class DeliveryRecords:
    """Deliveries per user, duplicate counts and a bounded log of all requests."""

    def __init__(self, log_size: int = 100_000) -> None:
        self._log_size = log_size
        # Called with each accepted request's arguments (the journal keeps them on disk).
        self.on_accept: Callable[[dict[str, Any]], None] | None = None
        self.reset()

    def reset(self) -> None:
        self._accepted: list[AcceptedRequest] = []
        self._by_user: dict[UserKey, int | list[int]] = {}
        self._payloads: dict[str, str] = {}
        self._duplicates: dict[tuple[UserKey, str], int] = {}
        self._log: deque[LoggedRequest] = deque(maxlen=self._log_size)
        self._status_counts: Counter[tuple[str, int]] = Counter()
        self._fault_counts: Counter[str] = Counter()
        self.recipients_served = 0
        self.messages_delivered = 0

    def log(self, entry: LoggedRequest) -> None:
        self._log.append(entry)
        self._status_counts[(entry.endpoint, entry.status)] += 1
        if entry.fault:
            self._fault_counts[entry.fault] += 1

    def accept(
        self,
        *,
        endpoint: str,
        request_id: str,
        retry_key: str | None,
        messages: list[Any],
        units: list[str] | None,
        users: list[str],
        at: float,
    ) -> AcceptedRequest:
        """Record one applied sending request and a delivery to each of `users`."""
        payload = json.dumps(messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        payload = self._payloads.setdefault(payload, payload)
        unit_tuple = tuple(units or ())
        dedupe = unit_tuple[0] if unit_tuple else "sha1:" + hashlib.sha1(
            payload.encode()
        ).hexdigest()[:16]
        request = AcceptedRequest(
            endpoint, request_id, retry_key, payload, unit_tuple, dedupe, at, len(users),
            len(messages),
        )
        index = len(self._accepted)
        self._accepted.append(request)
        by_user = self._by_user
        accepted = self._accepted
        for user in users:
            key = user_key(user)
            slot = by_user.get(key)
            if slot is None:
                by_user[key] = index
                continue
            earlier = [slot] if isinstance(slot, int) else slot
            if any(accepted[i].dedupe_unit == dedupe for i in earlier):
                pair = (key, dedupe)
                self._duplicates[pair] = self._duplicates.get(pair, 1) + 1
            if isinstance(slot, int):
                by_user[key] = [slot, index]
            else:
                slot.append(index)
        self.recipients_served += len(users)
        self.messages_delivered += len(users) * len(messages)
        if self.on_accept is not None:
            self.on_accept({"endpoint": endpoint, "request_id": request_id,
                            "retry_key": retry_key, "messages": messages, "units": units,
                            "users": users, "at": at})
        return request

    def units_since(self, since: float) -> list[str]:
        """customAggregationUnits of requests accepted at or after `since`, in order."""
        return [unit for r in self._accepted if r.at >= since for unit in r.units]
    def users(self) -> list[str]:
        """Every user who received something, in the order they first did."""
        return [user_id_of(key) for key in self._by_user]

    def deliveries(self, user_id: str) -> list[dict[str, Any]]:
        slot = self._by_user.get(user_key(user_id))
        if slot is None:
            return []
        indexes = [slot] if isinstance(slot, int) else slot
        out = []
        for i in indexes:
            r = self._accepted[i]
            out.append(
                {
                    "endpoint": r.endpoint,
                    "request_id": r.request_id,
                    "retry_key": r.retry_key,
                    "messages": json.loads(r.payload),
                    "custom_aggregation_units": list(r.units),
                    "at": r.at,
                }
            )
        return out

    def duplicates(self) -> list[dict[str, Any]]:
        return [
            {"user_id": user_id_of(key), "unit": unit, "count": count}
            for (key, unit), count in sorted(self._duplicates.items(), key=lambda kv: -kv[1])
        ]

    def totals(self) -> dict[str, Any]:
        by_endpoint: dict[str, dict[str, int]] = {}
        for (endpoint, status), count in sorted(self._status_counts.items()):
            by_endpoint.setdefault(endpoint, {})[str(status)] = count
        return {
            "requests": by_endpoint,
            "faults": dict(self._fault_counts),
            "accepted_requests": len(self._accepted),
            "recipients_served": self.recipients_served,
            "messages_delivered": self.messages_delivered,
            "duplicates": sum(c - 1 for c in self._duplicates.values()),
            "distinct_users": len(self._by_user),
        }

    def requests(
        self, status: int | None = None, endpoint: str | None = None
    ) -> list[LoggedRequest]:
        return [
            entry
            for entry in self._log
            if (status is None or entry.status == status)
            and (endpoint is None or entry.endpoint == endpoint)
        ]
