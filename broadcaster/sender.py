"""Sending one batch to LINE with the SDK's async client, paced to LINE's rate limits.

One `LineSender` per event loop: it owns the aiohttp session (created inside the loop,
SDK issue #437) and one token bucket per LINE endpoint. The emergency lane of each bucket
is served before the normal lane, so an emergency batch takes the very next token.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    MulticastRequest,
    PushMessageRequest,
)

from broadcaster.batches import Endpoint
from broadcaster.line_client import configuration
from broadcaster.pacing import AsyncTokenBucket
from broadcaster.settings import RateLimitSettings, Settings
from broadcaster.transport import Accepted, DeliveryError, classify

# Our buckets hold 50 ms worth of tokens: enough to absorb scheduling jitter, far below
# whatever burst LINE's own bucket allows, so pacing never crosses the limit.
BURST_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class OutgoingBatch:
    """What the sender needs of a claimed batch."""

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

    async def acquire(self, endpoint: str, *, emergency: bool) -> None:
        await self.buckets[endpoint].acquire(emergency=emergency)


class LineSender:
    """Sends batches; use `async with LineSender(settings) as sender` inside the loop."""

    def __init__(self, settings: Settings, pacer: Pacer | None = None) -> None:
        self.settings = settings
        self.pacer = pacer or Pacer(settings.rate_limits)
        self.timeout = settings.line.request_timeout_seconds
        self._client: AsyncApiClient | None = None
        self._api: AsyncMessagingApi | None = None

    async def __aenter__(self) -> LineSender:
        config = configuration(self.settings.line)
        # aiohttp's connector limit must not be what bounds the requests in flight.
        config.connection_pool_maxsize = self.settings.line.max_in_flight * 2 + 4
        self._client = AsyncApiClient(config)
        self._api = AsyncMessagingApi(self._client)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def send(self, batch: OutgoingBatch) -> Accepted | DeliveryError:
        """Wait for a token, make one attempt, and classify what happened.

        Never raises for anything LINE or the network did; cancellation propagates.
        """
        assert self._api is not None, "use LineSender inside `async with`"
        units = [f"b{batch.broadcast_id}"]
        try:
            if batch.endpoint == Endpoint.push:
                request: Any = PushMessageRequest.from_dict(
                    {"to": batch.recipients[0], "messages": batch.messages,
                     "customAggregationUnits": units}
                )
            else:
                request = MulticastRequest.from_dict(
                    {"to": batch.recipients, "messages": batch.messages,
                     "customAggregationUnits": units}
                )
        except (ValueError, TypeError, KeyError) as exc:
            return DeliveryError(f"the batch is not a valid LINE request: {exc}", permanent=True)
        await self.pacer.acquire(batch.endpoint, emergency=batch.emergency)
        call = (
            self._api.push_message_with_http_info
            if batch.endpoint == Endpoint.push
            else self._api.multicast_with_http_info
        )
        try:
            response = await call(
                request, x_line_retry_key=batch.retry_key, _request_timeout=self.timeout
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return classify(exc)
        return classify(response)
