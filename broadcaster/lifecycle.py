"""The broadcast state machine: the one module that writes a broadcast's status.

    draft ──────────────┐
      │                 ▼
      ├─> awaiting_approval ─> scheduled ─> sending ─> sent | partially_failed | failed
      │                          │  │
      └──────────────────────────┘  └─> cancelled | expired | failed | sent (folded)

Every change is a conditional UPDATE guarded by the statuses it may start from, and its
row count decides: of a scheduler tick and an emergency desk racing for one broadcast,
exactly one claims it; a cancel that arrives after the claim changes nothing. A status
is never assigned on a loaded object and then flushed, because the object may be stale
(another process may have claimed the row since it was read).

Where a change is audited (create, edit, cancel, approve, expire, fail) the entry is
written here, in the caller's transaction, so the change and its record land together.
The caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.engine import Connection
from sqlmodel import Session

from broadcaster import audit
from broadcaster.broadcasts import EDITABLE, FINISHED, Broadcast, BroadcastStatus
from broadcaster.db import table_of

S = BroadcastStatus
# Every allowed move. An edit re-enters one of the editable states (a draft scheduled, an
# approved broadcast sent back for approval); a finished broadcast never moves again.
TRANSITIONS: Mapping[BroadcastStatus, frozenset[BroadcastStatus]] = {
    S.draft: frozenset({S.draft, S.awaiting_approval, S.scheduled, S.cancelled}),
    S.awaiting_approval: frozenset({S.draft, S.awaiting_approval, S.scheduled, S.cancelled}),
    S.scheduled: frozenset(
        # sent: a digest notice is folded (recorded as delivered in the digest) unsent.
        {S.draft, S.awaiting_approval, S.scheduled, S.sending, S.sent}
        | {S.cancelled, S.expired, S.failed, S.held}
    ),
    # held: a routine notice waiting out a disaster; released, edited or cancelled.
    S.held: frozenset({S.held, S.scheduled, S.draft, S.awaiting_approval, S.cancelled}),
    S.sending: frozenset({S.sent, S.partially_failed, S.failed}),
    **{status: frozenset() for status in FINISHED},
}
INITIAL = frozenset({S.draft, S.awaiting_approval, S.scheduled})
BROADCAST: sa.Table = table_of(Broadcast)


class IllegalTransition(ValueError):
    """A move the state machine does not have (a bug in the caller, never bad input)."""


def sources_of(to: BroadcastStatus) -> frozenset[BroadcastStatus]:
    """The statuses from which a broadcast may move to `to`."""
    return frozenset(source for source, targets in TRANSITIONS.items() if to in targets)


def _connection(session: orm.Session | Connection) -> Connection:
    return session if isinstance(session, Connection) else session.connection()


def move(
    session: orm.Session | Connection,
    broadcast_id: int,
    to: BroadcastStatus,
    now: datetime,
    *,
    sources: Iterable[BroadcastStatus] | None = None,
    reason: str | None = None,
    values: Mapping[str, Any] | None = None,
    where: sa.ColumnElement[bool] | None = None,
) -> bool:
    """Move the broadcast to `to` if its status is one of `sources` (default: every status
    allowed to move there) and `where` holds. Returns whether this call moved it.

    Sets `updated_at`, `status_reason` when given, and `finished_at` when it ends.
    Raises IllegalTransition for a source the table does not allow.
    """
    allowed = sources_of(to)
    chosen = allowed if sources is None else frozenset(sources)
    illegal = chosen - allowed
    if illegal or not chosen:
        raise IllegalTransition(f"no transition {', '.join(sorted(illegal)) or '(none)'} -> {to}")
    update: dict[str, Any] = {"status": to.value, "updated_at": now, **(values or {})}
    if reason is not None:
        update["status_reason"] = reason
    if to in FINISHED:
        update.setdefault("finished_at", now)
    condition = sa.and_(
        BROADCAST.c.id == broadcast_id,
        BROADCAST.c.status.in_(sorted(status.value for status in chosen)),
    )
    if where is not None:
        condition = sa.and_(condition, where)
    result = _connection(session).execute(sa.update(BROADCAST).where(condition).values(update))
    return result.rowcount == 1


def snapshot(broadcast: Broadcast) -> dict[str, Any]:
    """The row as JSON, for audit before/after."""
    return broadcast.model_dump(mode="json")


def audit_change(
    session: Session,
    broadcast: Broadcast,
    action: str,
    *,
    actor: str,
    now: datetime,
    before: dict[str, Any] | None = None,
) -> None:
    """Audit a change to `broadcast` in the caller's transaction, with its state now."""
    audit.record(
        session,
        at=now,
        actor=actor,
        action=action,
        entity="broadcast",
        entity_id=broadcast.id,
        department_id=broadcast.department_id,
        before=before,
        after=snapshot(broadcast),
    )


def _audited_move(
    session: Session,
    broadcast: Broadcast,
    to: BroadcastStatus,
    action: str,
    *,
    actor: str,
    now: datetime,
    sources: Iterable[BroadcastStatus] | None = None,
    reason: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> bool:
    assert broadcast.id is not None, "flush the broadcast first"
    session.flush()
    before = snapshot(broadcast)
    if not move(session, broadcast.id, to, now, sources=sources, reason=reason, values=values):
        return False
    session.refresh(broadcast)
    audit_change(session, broadcast, action, actor=actor, now=now, before=before)
    return True


def add(
    session: Session, broadcast: Broadcast, status: BroadcastStatus, *, actor: str, now: datetime
) -> Broadcast:
    """A new broadcast enters the machine in `status` (draft, awaiting_approval or
    scheduled), flushed and audited as `broadcast.create`."""
    if status not in INITIAL:
        raise IllegalTransition(f"a broadcast cannot start as {status}")
    broadcast.status = status
    session.add(broadcast)
    session.flush()
    audit_change(session, broadcast, "broadcast.create", actor=actor, now=now)
    return broadcast


def add_occurrence(session: Session, broadcast: Broadcast, *, actor: str, now: datetime) -> None:
    """The next occurrence of a recurring broadcast, scheduled (audited `broadcast.recur`)."""
    broadcast.status = S.scheduled
    session.add(broadcast)
    session.flush()
    audit_change(session, broadcast, "broadcast.recur", actor=actor, now=now)


def settle_edit(
    session: Session,
    broadcast: Broadcast,
    to: BroadcastStatus,
    *,
    actor: str,
    now: datetime,
    before: dict[str, Any],
) -> bool:
    """After an edit (already applied to `broadcast`): into `to`, one of the editable states.

    False (and nothing moved) when the broadcast left the editable states meanwhile.
    Leaving `scheduled` forgets the approval.
    """
    assert broadcast.id is not None
    values = {} if to == S.scheduled else {"approved_by": None}
    session.flush()
    if not move(session, broadcast.id, to, now, sources=EDITABLE, values=values):
        return False
    session.refresh(broadcast)
    audit_change(session, broadcast, "broadcast.update", actor=actor, now=now, before=before)
    return True


def cancel(session: Session, broadcast: Broadcast, *, actor: str, now: datetime) -> bool:
    """Cancelled before it is sent (audited). False once it is sending or finished."""
    return _audited_move(
        session,
        broadcast,
        S.cancelled,
        "broadcast.cancel",
        actor=actor,
        now=now,
        reason=f"cancelled by {actor}",
    )


def approve(session: Session, broadcast: Broadcast, *, actor: str, now: datetime) -> bool:
    """awaiting_approval -> scheduled, with who approved it (audited)."""
    return _audited_move(
        session,
        broadcast,
        S.scheduled,
        "broadcast.approve",
        actor=actor,
        now=now,
        sources={S.awaiting_approval},
        values={"approved_by": actor},
    )


def expire(
    session: Session, broadcast: Broadcast, reason: str, *, actor: str, now: datetime
) -> bool:
    """scheduled -> expired with `reason` (audited), if still scheduled."""
    return _audited_move(
        session,
        broadcast,
        S.expired,
        "broadcast.expire",
        actor=actor,
        now=now,
        sources={S.scheduled},
        reason=reason,
    )


def hold(
    session: Session, broadcast: Broadcast, reason: str, *, actor: str, now: datetime
) -> bool:
    """scheduled -> held with `reason` (audited): a feature defers a due broadcast."""
    return _audited_move(
        session,
        broadcast,
        S.held,
        "broadcast.hold",
        actor=actor,
        now=now,
        sources={S.scheduled},
        reason=reason,
    )


def release(
    session: Session, broadcast: Broadcast, send_at: datetime, *, actor: str, now: datetime
) -> bool:
    """held -> scheduled at `send_at` (audited): what held it is over."""
    return _audited_move(
        session,
        broadcast,
        S.scheduled,
        "broadcast.release",
        actor=actor,
        now=now,
        sources={S.held},
        reason=f"released at {now:%Y-%m-%d %H:%M} UTC: what held it is over",
        values={"send_at": send_at},
    )


def claim(session: orm.Session | Connection, broadcast_id: int, now: datetime) -> bool:
    """scheduled -> sending, if nobody else got there first: the claim that decides who
    dispatches a broadcast."""
    return move(
        session, broadcast_id, S.sending, now, sources={S.scheduled}, values={"started_at": now}
    )


def ensure_sending(session: orm.Session | Connection, broadcast_id: int, now: datetime) -> bool:
    """The outbox's start: `sending` (claimed by this call if still scheduled), with
    `started_at` kept from the claim. False when it is neither scheduled nor sending."""
    connection = _connection(session)
    if claim(connection, broadcast_id, now):
        return True
    result = connection.execute(
        sa.update(BROADCAST)
        .where(BROADCAST.c.id == broadcast_id, BROADCAST.c.status == S.sending.value)
        .values(started_at=sa.func.coalesce(BROADCAST.c.started_at, now))
    )
    return result.rowcount == 1


def fail(session: Session, broadcast: Broadcast, reason: str, *, actor: str, now: datetime) -> bool:
    """A dispatch that cannot complete ends `failed` with `reason` (audited), from
    scheduled or sending. False when it had already ended."""
    return _audited_move(
        session, broadcast, S.failed, "broadcast.fail", actor=actor, now=now, reason=reason
    )


def finish(
    session: orm.Session | Connection,
    broadcast_id: int,
    to: BroadcastStatus,
    now: datetime,
    *,
    reason: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> bool:
    """sending -> sent | partially_failed, once its dispatch is complete (`dispatched_at`
    set): of several workers finishing the last batches, one wins."""
    if to not in (S.sent, S.partially_failed):
        raise IllegalTransition(f"a dispatch finishes sent or partially_failed, not {to}")
    return move(
        session,
        broadcast_id,
        to,
        now,
        sources={S.sending},
        reason=reason,
        values=values,
        where=BROADCAST.c.dispatched_at.is_not(None),
    )


def fold(
    session: orm.Session | Connection,
    broadcast_id: int,
    now: datetime,
    *,
    reason: str,
    values: Mapping[str, Any] | None = None,
) -> bool:
    """scheduled -> sent without a send: the notice is delivered inside the digest."""
    return move(
        session, broadcast_id, S.sent, now, sources={S.scheduled}, reason=reason, values=values
    )
