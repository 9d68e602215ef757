"""Answering webhook events with LINE's reply API (free: replies do not count against the
monthly quota).

Replies are sent after the webhook has answered 200, so a slow LINE never delays it. A
failed reply is logged with a masked user id and dropped: a reply token is single-use and
short-lived, so there is nothing to retry, and the resident can simply ask again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    ReplyMessageRequest,
)

from broadcaster.line_client import configuration
from broadcaster.settings import LineSettings

if TYPE_CHECKING:
    from broadcaster.rich_menus import MenuLink

log = logging.getLogger(__name__)

MAX_MESSAGES = 5  # LINE: at most 5 message objects per reply


@dataclass(frozen=True, slots=True)
class Reply:
    """Messages to reply with (none when `reply_token` is empty), and the rich menu to
    link to the resident afterwards, if theirs changed."""

    reply_token: str
    masked_user_id: str
    messages: list[dict[str, Any]]
    link: MenuLink | None = None


async def send_replies(line: LineSettings, replies: Sequence[Reply]) -> int:
    """Send every reply concurrently; returns how many LINE accepted. Never raises for
    LINE's or the network's failures."""
    if not replies:
        return 0
    # The aiohttp session inside AsyncApiClient must be created in the running loop.
    async with AsyncApiClient(configuration(line)) as client:
        api = AsyncMessagingApi(client)
        results = await asyncio.gather(
            *(_send(api, reply, line.request_timeout_seconds) for reply in replies)
        )
    # aiohttp closes its sockets in callbacks of this loop; let them run before the loop
    # (a request's background task) may end, or the sockets are left to the collector.
    await asyncio.sleep(0)
    return sum(results)


async def _send(api: AsyncMessagingApi, reply: Reply, timeout: float) -> bool:
    sent = await _reply(api, reply, timeout) if reply.messages else False
    if reply.link is not None:
        # After the reply, which its token must not wait for; the menu is ready when the
        # resident next looks. A failure only leaves them on their previous menu.
        try:
            await api.link_rich_menu_id_to_user(
                reply.link.user_id, reply.link.rich_menu_id, _request_timeout=timeout
            )
        except Exception as exc:
            log.warning("rich menu link for %s failed: %s", reply.masked_user_id, exc)
    return sent


async def _reply(api: AsyncMessagingApi, reply: Reply, timeout: float) -> bool:
    try:
        request = ReplyMessageRequest.from_dict(
            {"replyToken": reply.reply_token, "messages": reply.messages[:MAX_MESSAGES]}
        )
        await api.reply_message_with_http_info(request, _request_timeout=timeout)
    except ApiException as exc:
        log.warning(
            "reply to %s refused by LINE: %s %s", reply.masked_user_id, exc.status, exc.body
        )
        return False
    except Exception:
        # Network errors, timeouts, or a message the SDK rejects: logged, never raised,
        # because the webhook has already answered and nothing else waits for this.
        log.exception("reply to %s failed", reply.masked_user_id)
        return False
    return True
