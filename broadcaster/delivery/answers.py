"""What LINE's answer to one sending request means for us, decided in exactly one place.

Every outcome of a push/multicast call ends up as either `Accepted` (LINE took it; a 409
"retry key already accepted" is also a success) or a `DeliveryError`, whose `permanent`
flag says whether trying again with the same retry key can help. Nothing else in the
delivery code looks at status codes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from linebot.v3.messaging import ApiException

# LINE answers 429 both for the rate limit and for the exhausted monthly quota; only the
# message tells them apart (REF "Error messages").
MONTHLY_LIMIT_MESSAGE = "You have reached your monthly limit."


@dataclass(frozen=True, slots=True)
class Accepted:
    """LINE accepted the request (now, or earlier under the same retry key)."""

    status: int
    request_id: str | None
    # On a 409: the id of the request LINE accepted first (x-line-accepted-request-id).
    accepted_request_id: str | None = None

    @property
    def line_request_id(self) -> str | None:
        """The id to store: the accepted request's, which is what LINE's logs know."""
        return self.accepted_request_id or self.request_id


class DeliveryError(Exception):
    """A sending request that did not (knowably) go through.

    `permanent`: retrying the same request cannot help (a 4xx other than 409/429, the
    monthly quota). `status` is LINE's HTTP status, None when no answer came back.
    `ambiguous`: no answer at all (timeout, dropped connection), so LINE may have applied
    it; only the retry key can tell, which matters once the key is forgotten.
    `quota_exhausted`: the monthly message quota is used up.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        ambiguous: bool = False,
        quota_exhausted: bool = False,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status
        self.ambiguous = ambiguous
        self.quota_exhausted = quota_exhausted
        self.body = body

    def __repr__(self) -> str:
        return f"DeliveryError({self.message!r}, permanent={self.permanent}, status={self.status})"


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        # urllib3/aiohttp mappings are case-insensitive, a plain dict is not.
        lowered = {k.lower(): v for k, v in headers.items()}
        value = lowered.get(name)
    return str(value) if value is not None else None


def _line_message(body: str | None) -> str:
    if not body:
        return ""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return body[:500]
    if not isinstance(data, dict):
        return body[:500]
    message = str(data.get("message", ""))
    details = data.get("details") or []
    parts = [
        f"{d.get('property', '')}: {d.get('message', '')}".strip(": ")
        for d in details
        if isinstance(d, dict)
    ]
    return message + (f" ({'; '.join(parts)})" if parts else "")


def classify(outcome: object) -> Accepted | DeliveryError:
    """Classify one call's result: an SDK `ApiResponse`, or the exception it raised.

    2xx -> Accepted; 409 -> Accepted (already accepted under this retry key); 429 and 5xx
    -> retryable; 429 "monthly limit" -> permanent, with a message staff can act on;
    other 4xx -> permanent with LINE's error body; timeouts and dropped connections ->
    retryable and ambiguous. Anything else is a bug in our code and is re-raised.
    """
    if isinstance(outcome, ApiException):
        status = int(outcome.status or 0)
        headers = outcome.headers
        body = (
            outcome.body
            if isinstance(outcome.body, str)
            else (
                outcome.body.decode(errors="replace") if isinstance(outcome.body, bytes) else None
            )
        )
        if status == 409:
            return Accepted(
                409,
                _header(headers, "x-line-request-id"),
                _header(headers, "x-line-accepted-request-id"),
            )
        text = _line_message(body)
        if status == 429 and MONTHLY_LIMIT_MESSAGE.rstrip(".") in text:
            return DeliveryError(
                "LINE's monthly message quota is used up: nothing more can be sent this month "
                "until the plan's limit is raised in LINE Official Account Manager "
                f"(LINE said: {text})",
                permanent=True,
                status=429,
                quota_exhausted=True,
                body=body,
            )
        if status == 429 or status >= 500:
            return DeliveryError(
                f"LINE answered {status}: {text}", permanent=False, status=status, body=body
            )
        return DeliveryError(
            f"LINE refused the request ({status}): {text}", permanent=True, status=status, body=body
        )
    if isinstance(outcome, (TimeoutError, asyncio.TimeoutError)):
        return DeliveryError(
            "no answer from LINE within the timeout", permanent=False, ambiguous=True
        )
    if isinstance(outcome, aiohttp.ClientError):
        # ServerDisconnectedError, ClientConnectionError, ClientPayloadError...: the
        # request may or may not have reached LINE.
        return DeliveryError(
            f"connection to LINE failed: {type(outcome).__name__}: {outcome}",
            permanent=False,
            ambiguous=True,
        )
    if isinstance(outcome, BaseException):
        raise outcome
    status = int(getattr(outcome, "status_code", 0))
    if 200 <= status < 300:
        headers = getattr(outcome, "headers", None)
        return Accepted(status, _header(headers, "x-line-request-id"))
    raise TypeError(f"cannot classify {type(outcome).__name__}")
