"""The monthly message quota.

LINE counts recipients, not requests or message objects: a multicast to N users costs N,
a push costs 1, broadcast costs the number of friends, and replies are free.
"""

from __future__ import annotations

from typing import Any


class MonthlyQuota:
    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0

    def allows(self, recipients: int) -> bool:
        return self.limit is None or self.used + recipients <= self.limit

    def consume(self, recipients: int) -> None:
        self.used += recipients

    def quota_body(self) -> dict[str, Any]:
        """`GET /v2/bot/message/quota`: type "none" when unlimited, else "limited" + value."""
        if self.limit is None:
            return {"type": "none"}
        return {"type": "limited", "value": self.limit}

    def consumption_body(self) -> dict[str, Any]:
        return {"totalUsage": self.used}

    def reset(self) -> None:
        self.used = 0
