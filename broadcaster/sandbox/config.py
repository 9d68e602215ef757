"""What a sandbox is set up with. Defaults are LINE's real values, so a sandbox started
with no arguments behaves like the production API as far as we can tell from its docs."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# Rate limits in requests per second, per channel per endpoint (LINE "Rate limits").
# Broadcast and narrowcast are limited to 60 an hour, i.e. 60/3600 per second.
DEFAULT_RATE_LIMITS: dict[str, float] = {
    "push": 2000.0,
    "multicast": 200.0,
    "reply": 2000.0,
    "broadcast": 60 / 3600,
    "narrowcast": 60 / 3600,
    "quota": 2000.0,
    "validate": 2000.0,
    "progress": 2000.0,
    # Rich menus: create, delete and the bulk link/unlink endpoints 100 an hour each, the
    # batch 3 an hour, the list 10 a second, every other rich-menu call 2,000 a second.
    "richmenu_create": 100 / 3600,
    "richmenu_delete": 100 / 3600,
    "richmenu_bulk_link": 100 / 3600,
    "richmenu_bulk_unlink": 100 / 3600,
    "richmenu_batch": 3 / 3600,
    "richmenu_list": 10.0,
    "richmenu": 2000.0,
    # Insight (statistics, followers) endpoints share 60 requests an hour.
    "insight": 60 / 3600,
}
# Bucket sizes where one second's worth would be under one request. LINE states these
# limits per hour and does not publish a burst size; we let a full hour's worth go at once
# (a city creating its 14 menus in a row is what the limit is written for).
DEFAULT_BUCKET_CAPACITY: dict[str, float] = {
    "richmenu_create": 100.0,
    "richmenu_delete": 100.0,
    "richmenu_bulk_link": 100.0,
    "richmenu_bulk_unlink": 100.0,
    "richmenu_batch": 3.0,
}

FAULT_KINDS = ("error_500", "error_429", "slow", "drop", "lost_response")
SCRIPT_OUTCOMES = ("ok", "500", "429", "slow", "drop", "lost_response")


@dataclass
class FaultConfig:
    """Shares (0..1) of sending requests that get each fault, plus an exact script.

    `script` entries are consumed one per sending request (push, multicast, broadcast,
    narrowcast) before the random shares apply, so a test can say exactly what happens.
    """

    error_500: float = 0.0
    error_429: float = 0.0
    slow: float = 0.0
    slow_ms: int = 1000
    drop: float = 0.0
    lost_response: float = 0.0
    script: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        total = 0.0
        for kind in FAULT_KINDS:
            share = float(getattr(self, kind))
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"fault share {kind} must be within 0..1, got {share}")
            total += share
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault shares add up to {total}, more than 1")
        if self.slow_ms < 0:
            raise ValueError(f"slow_ms must be >= 0, got {self.slow_ms}")
        for outcome in self.script:
            if outcome not in SCRIPT_OUTCOMES:
                raise ValueError(
                    f"unknown script outcome {outcome!r}; expected one of {SCRIPT_OUTCOMES}"
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        """Build from JSON; unknown keys are an error naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class SandboxConfig:
    """Everything a sandbox needs; pass it to `create_sandbox_app` or `runner.run`."""

    channel_access_token: str = "sandbox-token"
    channel_secret: str = "sandbox-secret"
    webhook_url: str | None = None
    # Overrides per endpoint name (see DEFAULT_RATE_LIMITS); missing names keep LINE's rate.
    rate_limits: dict[str, float] = field(default_factory=dict)
    # Bucket size per endpoint; None means one second's worth of tokens, at least 1.
    bucket_capacity: dict[str, float] = field(default_factory=dict)
    # None: LINE's quota type "none" (unlimited); an int: type "limited" with that value.
    monthly_quota: int | None = None
    # Added to every LINE API response (not /_sandbox ones), to make a local sandbox as
    # slow as a real round trip.
    delay_ms: int = 0
    faults: FaultConfig = field(default_factory=FaultConfig)
    # LINE remembers a retry key for 24 hours after its first use.
    retry_key_ttl_s: float = 24 * 3600
    # LINE answers 413 above 2 MB.
    max_body_bytes: int = 2 * 1024 * 1024
    seed: int = 0
    # Users counted as friends for broadcast/narrowcast; follow/unfollow webhooks change it.
    followers: list[str] = field(default_factory=list)
    # If set, broadcast/narrowcast count this many recipients against the quota instead
    # of the known followers (deliveries are still recorded only for known followers).
    broadcast_recipients: int | None = None
    # LINE does not publish a reply-token lifetime; "use it promptly" is the rule.
    reply_token_ttl_s: float = 60.0
    # Bounded so a million-recipient benchmark cannot grow the request log without limit.
    request_log_size: int = 100_000
    # A JSON file where friends and the deliveries each received are kept across restarts
    # (None: forgotten at exit). For people playing residents, not for load tests.
    record_file: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rate_limits) - set(DEFAULT_RATE_LIMITS))
        if unknown:
            raise ValueError(f"unknown rate-limit endpoint(s): {', '.join(unknown)}")
        for name, rate in self.rate_limits.items():
            if rate <= 0:
                raise ValueError(f"rate limit for {name} must be > 0, got {rate}")
        if self.monthly_quota is not None and self.monthly_quota < 0:
            raise ValueError(f"monthly_quota must be >= 0, got {self.monthly_quota}")
        if self.delay_ms < 0:
            raise ValueError(f"delay_ms must be >= 0, got {self.delay_ms}")

    def rate_for(self, endpoint: str) -> float:
        return self.rate_limits.get(endpoint, DEFAULT_RATE_LIMITS[endpoint])

    def capacity_for(self, endpoint: str) -> float:
        if endpoint in self.bucket_capacity:
            return self.bucket_capacity[endpoint]
        if endpoint in DEFAULT_BUCKET_CAPACITY and endpoint not in self.rate_limits:
            return DEFAULT_BUCKET_CAPACITY[endpoint]
        return max(1.0, self.rate_for(endpoint))

    def __repr__(self) -> str:
        # Never print the token or secret: configs end up in logs.
        return (
            f"SandboxConfig(webhook_url={self.webhook_url!r}, monthly_quota="
            f"{self.monthly_quota!r}, delay_ms={self.delay_ms}, rate_limits={self.rate_limits!r},"
            f" faults={self.faults!r})"
        )
