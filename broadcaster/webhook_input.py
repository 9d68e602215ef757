"""What a webhook body and each of its events must be before anything is applied.

LINE redelivers a webhook after any non-2xx (when redelivery is on), so a body we cannot
apply must never earn a 500: it would come back forever. The body as a whole is refused
(400) only when it cannot be read at all (nested too deep to parse safely). An event that
is well-formed JSON but cannot be applied (a timestamp outside the calendar, a malformed
id) is skipped and recorded in the audit log, while the other events of the same body are
applied and LINE gets its 200.

- `webhookEventId` is a ULID (26 characters); we take up to 64, the width of the column
  that de-duplicates events, in letters, digits, `-` and `_`.
- `userId` is `U` and 32 lowercase hex digits (LINE's format); anything else is not a LINE
  user and would store whatever a forged body says.
- `timestamp` is milliseconds since the epoch, between 2000 and 2100.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from broadcaster import audit
from broadcaster.db import session_scope

log = logging.getLogger(__name__)

EVENT_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
USER_ID = re.compile(r"U[0-9a-f]{32}")
EARLIEST_MS = 946_684_800_000  # 2000-01-01
LATEST_MS = 4_102_444_800_000  # 2100-01-01


def nesting_too_deep(raw: bytes, limit: int) -> bool:
    """True when the body is JSON nested deeper than `limit` (or too deep to parse)."""
    try:
        data = json.loads(raw)
    except RecursionError:
        return True
    except ValueError:
        return False  # not JSON: the SDK's parser refuses it with its own message
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return False


def occurred_at(event: Any) -> datetime:
    """The event's time (aware UTC). Raises ValueError when it is not a plausible time."""
    timestamp = getattr(event, "timestamp", None)
    if not isinstance(timestamp, int) or not EARLIEST_MS <= timestamp < LATEST_MS:
        raise ValueError(f"timestamp {str(timestamp)[:20]!r} is not between 2000 and 2100")
    return datetime.fromtimestamp(timestamp / 1000, UTC)


def event_problem(event: Any) -> str | None:
    """Why `event` cannot be applied, or None when it can (or is simply ignored)."""
    event_id = getattr(event, "webhook_event_id", None)
    if event_id is not None and not (isinstance(event_id, str) and EVENT_ID.fullmatch(event_id)):
        return "webhookEventId is not 1-64 letters, digits, '-' or '_'"
    source = getattr(event, "source", None)
    user_id = getattr(source, "user_id", None)
    if user_id is not None and not (isinstance(user_id, str) and USER_ID.fullmatch(user_id)):
        return "source.userId is not 'U' and 32 hex digits"
    try:
        occurred_at(event)
    except ValueError as exc:
        return str(exc)
    return None


def record_skipped(engine: Engine, event: Any, problem: str, now: datetime) -> None:
    """Keep a trace of a skipped event for staff, without its user id or content."""
    event_type = str(getattr(event, "type", "?"))[:32]
    log.warning("webhook event (%s) skipped: %s", event_type, problem)
    with session_scope(engine) as session:
        audit.record(
            session,
            at=now,
            actor="LINE webhook",
            action="webhook.event_skipped",
            entity="webhook_event",
            after={"type": event_type, "problem": problem},
        )


def webhook_problem(status: int, message: str) -> dict[str, Any]:
    """A refusal of the webhook as a problem document (English: LINE reads it, not staff)."""
    # The API package imports the webhook's router: at module level this is a cycle.
    from broadcaster.api.problems import TYPE_PREFIX, Problem

    code = f"webhook.{status}"
    return Problem(
        type=TYPE_PREFIX + code, title=message, status=status, detail=message, code=code
    ).model_dump()
