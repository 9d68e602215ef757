"""Playing a resident: webhook events built per `webhook.yml`, signed like LINE signs them,
and the reply tokens they carry.

LINE signs the raw body: `x-line-signature = base64(HMAC-SHA256(channel secret, body))`.
Follow, postback and message events carry a one-use reply token; the sandbox's reply
endpoint accepts only tokens issued here and records the reply under the token's user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from dataclasses import dataclass
from typing import Any

import httpx

EVENT_TYPES = ("follow", "unfollow", "postback", "message")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def sign(channel_secret: str, body: bytes) -> str:
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def bot_user_id(channel_secret: str) -> str:
    """A stable `destination` (the bot's user id, `U` + 32 hex) derived from the secret."""
    return "U" + hashlib.md5(channel_secret.encode("utf-8")).hexdigest()


class WebhookRequestError(ValueError):
    """The `/_sandbox/webhooks/send` request itself is wrong; the message names the field."""


@dataclass(frozen=True, slots=True)
class WebhookResult:
    payload: dict[str, Any]
    status: int | None
    error: str | None


class ResidentSimulator:
    """Builds and sends events, and keeps the reply tokens and followers they create."""

    def __init__(self, channel_secret: str, seed: int, reply_token_ttl_s: float) -> None:
        self.channel_secret = channel_secret
        self.destination = bot_user_id(channel_secret)
        self.reply_token_ttl_s = reply_token_ttl_s
        self._rng = random.Random(seed)
        self._reply_tokens: dict[str, tuple[str, float]] = {}
        self._sent: dict[str, dict[str, Any]] = {}
        self.followers: dict[str, None] = {}  # insertion-ordered set
        self.blocked: dict[str, None] = {}  # users who unfollowed and have not come back

    def reset(self) -> None:
        self._reply_tokens.clear()
        self._sent.clear()

    def _event_id(self, now_ms: int) -> str:
        # ULID-like: 48-bit millisecond time then 80 random bits, Crockford base32 (26 chars).
        value = (now_ms << 80) | self._rng.getrandbits(80)
        return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))

    def _reply_token(self, user_id: str, now: float) -> str:
        token = f"{self._rng.getrandbits(128):032x}"
        self._reply_tokens[token] = (user_id, now)
        return token

    def use_reply_token(self, token: str, now: float) -> str | None:
        """The user a reply token was issued for; the token is spent. None if unknown,
        already used or expired."""
        found = self._reply_tokens.pop(token, None)
        if found is None:
            return None
        user_id, issued = found
        return user_id if now - issued <= self.reply_token_ttl_s else None

    def build_event(self, request: dict[str, Any], now: float) -> dict[str, Any]:
        """One event for `request` (see module doc); also updates followers/reply tokens."""
        original_id = request.get("redelivery_of")
        if original_id is not None:
            original = self._sent.get(str(original_id))
            if original is None:
                raise WebhookRequestError(f"redelivery_of: unknown webhookEventId {original_id}")
            # A redelivery is the same event (same id and timestamp), marked as such.
            return {**original, "deliveryContext": {"isRedelivery": True}}
        kind = request.get("type")
        if kind not in EVENT_TYPES:
            raise WebhookRequestError(f"type: expected one of {EVENT_TYPES}, got {kind!r}")
        user_id = request.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise WebhookRequestError("user_id: required")
        now_ms = int(now * 1000)
        happened = request.get("timestamp_ms")
        if happened is not None:
            # An event that happened earlier than it is sent (LINE delivers late at times).
            if not isinstance(happened, int) or isinstance(happened, bool) or happened < 0:
                raise WebhookRequestError("timestamp_ms: milliseconds since the epoch")
            now_ms = happened
        event: dict[str, Any] = {
            "type": kind,
            "mode": "active",
            "timestamp": now_ms,
            "source": {"type": "user", "userId": user_id},
            "webhookEventId": self._event_id(now_ms),
            "deliveryContext": {"isRedelivery": False},
        }
        if kind != "unfollow":
            event["replyToken"] = self._reply_token(user_id, now)
        if kind == "follow":
            event["follow"] = {"isUnblocked": bool(request.get("is_unblocked", False))}
            self.followers[user_id] = None
            self.blocked.pop(user_id, None)
        elif kind == "unfollow":
            self.followers.pop(user_id, None)
            self.blocked[user_id] = None
        elif kind == "postback":
            event["postback"] = {"data": str(request.get("data", ""))}
            if isinstance(request.get("params"), dict):
                event["postback"]["params"] = {k: str(v) for k, v in request["params"].items()}
        else:
            event["message"] = self._message_content(request)
        self._sent[event["webhookEventId"]] = event
        return event

    def _message_content(self, request: dict[str, Any]) -> dict[str, Any]:
        message_id = str(self._rng.randrange(10**17, 10**18))
        location = request.get("location")
        if isinstance(location, dict):
            content = {"type": "location", "id": message_id}
            for name in ("title", "address", "latitude", "longitude"):
                if name in location:
                    content[name] = location[name]
            return content
        return {
            "type": "text",
            "id": message_id,
            "text": str(request.get("text", "")),
            "quoteToken": f"q{self._rng.getrandbits(64):016x}",
        }

    def payload(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        return {"destination": self.destination, "events": events}

    async def deliver(
        self, url: str, payload: dict[str, Any], *, forge_signature: bool = False
    ) -> WebhookResult:
        """POST the payload to `url` signed (or deliberately mis-signed); never raises for
        the receiver's failures, which are reported in the result."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        secret = self.channel_secret + "-forged" if forge_signature else self.channel_secret
        headers = {
            "content-type": "application/json; charset=utf-8",
            "x-line-signature": sign(secret, body),
            "user-agent": "LineBotWebhook/2.0",
        }
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return WebhookResult(payload, None, f"{type(exc).__name__}: {exc}")
        return WebhookResult(payload, response.status_code, None)
