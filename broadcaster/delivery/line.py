"""The real sender: one batch to LINE with the SDK's async client, paced to LINE's limits.

One `LineSender` per event loop: it owns the aiohttp session (created inside the loop,
SDK issue #437) and one token bucket per LINE endpoint. The emergency lane of each bucket
is served before the normal lane, so an emergency batch takes the very next token.

Requests go through the SDK's `AsyncApiClient.call_api`, the public entry every generated
endpoint method ends in (auth header, retry key, timeout, `ApiException` on an error
status), with the body as a plain dict. The generated `multicast_with_http_info` would
first run pydantic over the request model: walking 500 recipient ids through pydantic's
`dict()` costs ~2.5 ms of CPU a request on a fast core, most of a slow one at LINE's 200
requests/s. So each distinct payload (messages + aggregation unit) is validated once by
the SDK's own `MulticastRequest`/`PushMessageRequest` model, and the recipients of each
batch are checked here against the same rules the model's `to` field has.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

from linebot.v3.messaging import AsyncApiClient, MulticastRequest, PushMessageRequest

from broadcaster.batches import Endpoint
from broadcaster.delivery.answers import Accepted, DeliveryError, classify
from broadcaster.delivery.port import OutgoingBatch
from broadcaster.line_client import configuration
from broadcaster.metrics import timed_call
from broadcaster.pacing import AsyncTokenBucket
from broadcaster.settings import RateLimitSettings, Settings

# Payloads validated, kept per distinct payload (a broadcast has few: one per render
# context), so the SDK's validation of the messages runs once per payload.
VALIDATED_CACHE_SIZE = 256

MULTICAST_MAX = 500  # LINE's limit of user ids per multicast

# Our buckets hold 50 ms worth of tokens: enough to absorb scheduling jitter, far below
# whatever burst LINE's own bucket allows, so pacing never crosses the limit.
BURST_SECONDS = 0.05

PATHS = {
    Endpoint.multicast.value: "/v2/bot/message/multicast",
    Endpoint.push.value: "/v2/bot/message/push",
}
# Success bodies are not read (the request id is a header): no model to build.
RESPONSE_TYPES = {"200": "object"}


class Pacing(Protocol):
    """Waits for LINE's tokens: `Pacer` in one process, `shared_bucket.SharedPacer` for
    replicas sharing a channel on PostgreSQL."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def acquire(self, endpoint: str, *, emergency: bool) -> None: ...

    def hold_normal(self, seconds: float) -> None: ...

    def release_normal(self) -> None: ...


class Pacer:
    """One two-lane token bucket per LINE endpoint, at the configured rates."""

    def __init__(self, rates: RateLimitSettings) -> None:
        self.buckets: dict[str, AsyncTokenBucket] = {
            endpoint.value: AsyncTokenBucket(rate, max(1.0, rate * BURST_SECONDS))
            for endpoint, rate in (
                (Endpoint.multicast, rates.multicast),
                (Endpoint.push, rates.push),
            )
        }

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def acquire(self, endpoint: str, *, emergency: bool) -> None:
        await self.buckets[endpoint].acquire(emergency=emergency)

    def hold_normal(self, seconds: float) -> None:
        """An emergency is being queued: keep the tokens for it (see pacing)."""
        for bucket in self.buckets.values():
            bucket.hold_normal(seconds)

    def release_normal(self) -> None:
        for bucket in self.buckets.values():
            bucket.release_normal()


def request_body(batch: OutgoingBatch) -> dict[str, Any]:
    """The JSON body LINE receives for a batch (one aggregation unit per broadcast)."""
    to: Any = batch.recipients[0] if batch.endpoint == Endpoint.push else batch.recipients
    return {
        "to": to,
        "messages": batch.messages,
        "customAggregationUnits": [f"b{batch.broadcast_id}"],
    }


class LineSender:
    """The `Sender` that talks to LINE (or the sandbox) through the line-bot-sdk."""

    def __init__(self, settings: Settings, pacer: Pacing | None = None) -> None:
        self.settings = settings
        self.pacer: Pacing = pacer or Pacer(settings.rate_limits)
        self.timeout = settings.line.request_timeout_seconds
        self._client: AsyncApiClient | None = None
        self._validated: set[str] = set()

    async def open(self) -> None:
        config = configuration(self.settings.line)
        # aiohttp's connector limit must not be what bounds the requests in flight.
        config.connection_pool_maxsize = self.settings.line.max_in_flight * 2 + 4
        self._client = AsyncApiClient(config)
        await self.pacer.open()

    async def close(self) -> None:
        await self.pacer.close()
        if self._client is not None:
            await self._client.close()
            # aiohttp closes its sockets in callbacks of this loop: let them run.
            await asyncio.sleep(0)
            self._client = None

    def hold_normal(self, seconds: float) -> None:
        self.pacer.hold_normal(seconds)

    def release_normal(self) -> None:
        self.pacer.release_normal()

    async def send(self, batch: OutgoingBatch) -> Accepted | DeliveryError:
        """Wait for a token, make one attempt, and classify what happened."""
        assert self._client is not None, "open() the sender first"
        try:
            body = self.checked_body(batch)
        except (ValueError, TypeError, KeyError) as exc:
            return DeliveryError(f"the batch is not a valid LINE request: {exc}", permanent=True)
        await self.pacer.acquire(batch.endpoint, emergency=batch.emergency)
        # /metrics: LINE's latency and answers per endpoint (issue 17).
        call = timed_call(batch.endpoint, self._client.call_api)
        try:
            response = await call(
                PATHS[batch.endpoint],
                "POST",
                {},
                [],
                {
                    "X-Line-Retry-Key": batch.retry_key,
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                },
                body=body,
                post_params=[],
                files={},
                response_types_map=RESPONSE_TYPES,
                auth_settings=["Bearer"],
                _request_timeout=self.timeout,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return classify(exc)
        return classify(response)

    def checked_body(self, batch: OutgoingBatch) -> dict[str, Any]:
        """The batch's body, its payload validated by the SDK's model (once per payload)
        and its recipients by the rules of that model's `to` field. Raises ValueError or
        TypeError when LINE would refuse it."""
        recipients = batch.recipients
        if batch.endpoint not in PATHS:
            raise ValueError(f"unknown endpoint {batch.endpoint!r}")
        if not isinstance(recipients, list) or not all(type(u) is str for u in recipients):
            raise TypeError("recipients must be a list of user id strings")
        limit = 1 if batch.endpoint == Endpoint.push else MULTICAST_MAX
        if not 1 <= len(recipients) <= limit:
            raise ValueError(f"a {batch.endpoint} takes 1 to {limit} recipients")
        body = request_body(batch)
        key = json.dumps(
            [batch.endpoint, body["messages"], body["customAggregationUnits"]],
            sort_keys=True,
            ensure_ascii=False,
        )
        if key not in self._validated:
            model = PushMessageRequest if batch.endpoint == Endpoint.push else MulticastRequest
            sample = {**body, "to": recipients[0] if limit == 1 else recipients[:1]}
            model.from_dict(sample)  # raises pydantic's ValidationError (a ValueError)
            if len(self._validated) >= VALIDATED_CACHE_SIZE:
                self._validated.clear()
            self._validated.add(key)
        return body
