"""Everything a running sandbox remembers, in one object owned by its event loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broadcaster.pacing import TokenBucket
from broadcaster.sandbox.config import DEFAULT_RATE_LIMITS, SandboxConfig
from broadcaster.sandbox.faults import FaultPlan
from broadcaster.sandbox.insight import InsightState
from broadcaster.sandbox.journal import Journal
from broadcaster.sandbox.quota import MonthlyQuota
from broadcaster.sandbox.records import DeliveryRecords
from broadcaster.sandbox.retrykeys import RetryKeyMemory
from broadcaster.sandbox.richmenus import RichMenuStore
from broadcaster.sandbox.webhooks import ResidentSimulator


@dataclass(frozen=True, slots=True)
class NarrowcastProgress:
    accepted_at: float
    target: int


class SandboxState:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.records = DeliveryRecords(config.request_log_size)
        self.retry_keys = RetryKeyMemory(config.retry_key_ttl_s)
        self.quota = MonthlyQuota(config.monthly_quota)
        self.faults = FaultPlan(config.faults, config.seed)
        self.residents = ResidentSimulator(
            config.channel_secret, config.seed, config.reply_token_ttl_s
        )
        for user_id in config.followers:
            self.residents.followers[user_id] = None
        self.buckets = self._new_buckets()
        self.narrowcasts: dict[str, NarrowcastProgress] = {}
        self.rich_menus = RichMenuStore()
        self.insight = InsightState()
        self.message_counter = 500_000_000_000_000_000
        self.journal: Journal | None = None
        if config.record_file:
            self.journal = Journal(config.record_file)
            self.journal.replay(self.records, self.residents.followers)
            journal = self.journal
            self.records.on_accept = lambda entry: journal.write("accept", entry)

    def note_event(self, event: dict[str, Any]) -> None:
        """Keep a follow or block in the journal (other events change no record)."""
        if self.journal is not None and event.get("type") in ("follow", "unfollow"):
            self.journal.write(event["type"], {"user_id": event["source"]["userId"]})

    def _new_buckets(self) -> dict[str, TokenBucket]:
        return {
            name: TokenBucket(self.config.rate_for(name), self.config.capacity_for(name))
            for name in DEFAULT_RATE_LIMITS
        }

    def next_message_id(self) -> str:
        # LINE message ids are decimal strings of 18 digits.
        self.message_counter += 1
        return str(self.message_counter)

    def reset(self) -> None:
        """Forget records, quota usage, retry keys, reply tokens and rate-limit history.

        Followers and fault settings stay: they are setup, not history."""
        self.records.reset()
        self.retry_keys.reset()
        self.quota.reset()
        self.residents.reset()
        self.buckets = self._new_buckets()
        self.narrowcasts.clear()
        self.rich_menus.reset()
        self.insight.reset()
        if self.journal is not None:
            self.journal.restart(self.residents.followers)

    def summary(self) -> dict[str, Any]:
        return {"followers": len(self.residents.followers), "retry_keys": len(self.retry_keys)}
