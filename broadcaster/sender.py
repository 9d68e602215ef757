"""Sending one batch to LINE with the SDK's async client, paced to LINE's rate limits.

One `LineSender` per event loop: it owns the aiohttp session (created inside the loop,
SDK issue #437) and one token bucket per LINE endpoint. The emergency lane of each bucket
is served before the normal lane, so an emergency batch takes the very next token.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    MulticastRequest,
    PushMessageRequest,
)
from pydantic.v1 import PrivateAttr

from broadcaster.batches import Endpoint
from broadcaster.broadcasts import is_emergency
from broadcaster.line_client import configuration
from broadcaster.pacing import AsyncTokenBucket
from broadcaster.settings import RateLimitSettings, Settings
from broadcaster.transport import Accepted, DeliveryError, classify

# Validated request templates kept per distinct payload (a broadcast has few: one per
# render context), so the SDK's pydantic validation of the messages runs once per payload.
TEMPLATE_CACHE_SIZE = 256

MULTICAST_MAX = 500  # LINE's limit of user ids per multicast

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
        return is_emergency(self.priority)


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

    def hold_normal(self, seconds: float) -> None:
        """An emergency is being prepared: keep the tokens for it (see pacing)."""
        for bucket in self.buckets.values():
            bucket.hold_normal(seconds)

    def release_normal(self) -> None:
        for bucket in self.buckets.values():
            bucket.release_normal()


class _CheckedMulticast(MulticastRequest):
    """A MulticastRequest assembled from parts already checked: the SDK validated its
    payload (messages, aggregation unit) once, `request_for` checked the recipients.

    The SDK serialises a request by walking its model through pydantic's `dict()`, which
    for 500 recipient ids costs ~2.5 ms of CPU, most of a core at LINE's 200 requests/s.
    This model hands the SDK the template's JSON form with the recipients put in; the
    SDK's client still sends it (headers, retry key, timeout, error handling).
    """

    _wire: dict[str, Any] = PrivateAttr(default_factory=dict)

    @classmethod
    def of(cls, template: MulticastRequest, recipients: list[str]) -> _CheckedMulticast:
        request = cls.construct(
            to=recipients,
            messages=template.messages,
            notification_disabled=template.notification_disabled,
            custom_aggregation_units=template.custom_aggregation_units,
        )
        request._wire = {**template.to_dict(), "to": recipients}
        return request

    def to_dict(self) -> dict[str, Any]:
        return self._wire


class LineSender:
    """Sends batches; use `async with LineSender(settings) as sender` inside the loop."""

    def __init__(self, settings: Settings, pacer: Pacer | None = None) -> None:
        self.settings = settings
        self.pacer = pacer or Pacer(settings.rate_limits)
        self.timeout = settings.line.request_timeout_seconds
        self._client: AsyncApiClient | None = None
        self._api: AsyncMessagingApi | None = None
        self._templates: dict[tuple[str, int], MulticastRequest] = {}

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
            # aiohttp closes its sockets in callbacks of this loop: let them run.
            await asyncio.sleep(0)
            self._client = None

    async def send(self, batch: OutgoingBatch) -> Accepted | DeliveryError:
        """Wait for a token, make one attempt, and classify what happened.

        Never raises for anything LINE or the network did; cancellation propagates.
        """
        assert self._api is not None, "use LineSender inside `async with`"
        try:
            request = self.request_for(batch)
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

    def request_for(self, batch: OutgoingBatch) -> MulticastRequest | PushMessageRequest:
        """The SDK request model for a batch; raises ValueError/TypeError when invalid.

        Validating 500 recipient ids through pydantic costs milliseconds a request, which
        at 200 requests/s is most of a core. So a multicast is validated by the SDK once
        per payload (messages + aggregation unit, with one recipient) and each batch gets
        a copy with its own recipients, checked here against the same rules the SDK's
        `to` field has (1 to 500 strings).
        """
        units = [f"b{batch.broadcast_id}"]
        if batch.endpoint == Endpoint.push:
            return PushMessageRequest.from_dict(
                {"to": batch.recipients[0], "messages": batch.messages,
                 "customAggregationUnits": units}
            )
        recipients = batch.recipients
        if not isinstance(recipients, list) or not 1 <= len(recipients) <= MULTICAST_MAX:
            raise ValueError(f"a multicast takes 1 to {MULTICAST_MAX} recipients")
        if not all(type(user) is str for user in recipients):
            raise TypeError("every multicast recipient must be a string user id")
        key = (json.dumps(batch.messages, sort_keys=True, ensure_ascii=False),
               batch.broadcast_id)
        template = self._templates.get(key)
        if template is None:
            template = MulticastRequest.from_dict(
                {"to": recipients[:1], "messages": batch.messages,
                 "customAggregationUnits": units}
            )
            if len(self._templates) >= TEMPLATE_CACHE_SIZE:
                self._templates.clear()
            self._templates[key] = template
        return _CheckedMulticast.of(template, list(recipients))
