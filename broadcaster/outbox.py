"""The outbox: turn a broadcast's audience into committed batches before anything is sent.

Recipients are read in windows of resident ids (`pages`). Each recipient joins the buffer
of its render context (the values of the fields the template reads); a buffer that
reaches 500 becomes a batch. Each distinct context is rendered once. Batches are written
in chunks (`chunks`), each chunk one transaction, so the worker can start sending the
first batches while later ones are still being written.

A crash mid-dispatch loses only what was not committed: a rerun reads only residents who
have no Delivery row for this broadcast yet, and reuses the messages already rendered
for a context (stored on its batches), so nobody is queued twice and little is rerendered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from broadcaster import ledger, lifecycle
from broadcaster.batches import Batch
from broadcaster.broadcasts import FINISHED, Broadcast, Priority
from broadcaster.chunks import Chunk, Context, context_key, rendered_before, run
from broadcaster.chunks import write as write_chunk
from broadcaster.db import table_of
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.delivery.gate import EmergencyGate
from broadcaster.pages import context_columns, page_query, page_reader
from broadcaster.progress import delivery_counts, finish_if_done
from segments.residents import Resident

MULTICAST_MAX = 500
PAGE_SIZE = 20_000
# Batches per committed chunk: small enough that the SQLite write lock is never held long
# (20 batches = 10,000 delivery rows, ~30 ms), big enough that commits stay cheap. The
# first chunk is a single batch so the worker can send within moments of dispatch start,
# and each next one twice as big up to CHUNK_BATCHES, so commits soon become few (each one
# on PostgreSQL waits for the disk) while the worker still gets batches from the start.
CHUNK_BATCHES = 20
FIRST_CHUNK_BATCHES = 1
# The first page is small for the same reason: reading 20,000 rows takes ~0.1 s.
FIRST_PAGE_SIZE = 1_000
# A normal dispatch waits while an emergency's outbox is being written (see
# `delivery.gate`), at most this long in all, not per chunk.
EMERGENCY_WAIT_SECONDS = 10.0

Render = Callable[[Mapping[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class DispatchPlan:
    """Who gets the broadcast and how their message is made.

    `audience`: a WHERE over `Resident`. `context_fields`: the Resident columns the
    messages depend on (recipients with equal values share one rendering). `render`:
    messages for one context (a mapping field -> value). `over_cap`: residents matching
    it are recorded as `skipped_cap` instead of being sent to.
    """

    audience: sa.ColumnElement[bool]
    context_fields: Sequence[str]
    render: Render
    over_cap: sa.ColumnElement[bool] | None = None


@dataclass
class DispatchResult:
    """What this call wrote (a resumed dispatch counts only its own part)."""

    recipients: int = 0
    batches: int = 0
    renderings: int = 0
    skipped_over_cap: int = 0
    failed: int = 0
    recipients_total: int = 0


def dispatch(
    session: Session,
    broadcast: Broadcast,
    plan: DispatchPlan,
    now: datetime,
    *,
    page_size: int = PAGE_SIZE,
    chunk_batches: int = CHUNK_BATCHES,
    on_commit: Callable[[], None] | None = None,
    gate: EmergencyGate | None = None,
) -> DispatchResult:
    """Write the broadcast's batches and deliveries, committing as it goes.

    Marks the broadcast `sending` (recording `started_at`), sets `dispatched_at`,
    `recipients_total` and `skipped_over_cap` when done, and finishes the broadcast at
    once if there is nothing to send. Safe to call again after a crash. A normal
    broadcast waits at each chunk while `gate` says an emergency is being queued. Raises
    ValueError for a context field that is not a Resident column, or a finished broadcast.
    """
    if broadcast.id is None:
        raise ValueError("the broadcast must be saved before it is dispatched")
    if broadcast.status in FINISHED:
        raise ValueError(f"broadcast {broadcast.id} is already {broadcast.status}")
    broadcast_id = broadcast.id
    columns = context_columns(plan.context_fields)
    resident = table_of(Resident)
    resumed = any(
        run(session, sa.select(table.c.id).where(table.c.broadcast_id == broadcast_id).limit(1))
        .first()
        is not None
        for table in (table_of(Batch), table_of(Delivery))
    )
    if resumed:
        # Every resident already in a batch gets its row, so the anti-join below sees them.
        ledger.catch_up(session, now, [broadcast_id])
    session.commit()
    page = page_query(plan.audience, columns, broadcast_id, resumed=resumed)
    read_page = page_reader(session)
    last_resident = run(session, sa.select(sa.func.max(resident.c.id))).scalar() or 0

    # The lifecycle owns the status: a claimed broadcast is already sending.
    if not lifecycle.ensure_sending(session, broadcast_id, now):
        session.rollback()
        raise ValueError(f"broadcast {broadcast_id} is neither scheduled nor sending")
    session.commit()

    result = DispatchResult()
    rendered: dict[Context, list[dict[str, Any]] | str] = {}
    earlier = rendered_before(session, broadcast_id) if resumed else {}
    session.commit()  # end the read so the next write starts its own transaction
    # Per context: resident ids and LINE user ids of the batch being filled.
    buffers: dict[Context, tuple[list[int], list[str]]] = {}
    chunk = Chunk()
    chunk_limit = min(chunk_batches, FIRST_CHUNK_BATCHES)
    patience = time.monotonic() + EMERGENCY_WAIT_SECONDS
    if broadcast.priority >= Priority.emergency:
        gate = None  # an emergency never waits for another
    last_id = 0
    has_context = bool(columns)
    # Who is at the cap is read once, not with every page: as a subquery of each page it
    # was evaluated again and again (1M recipients: 11 s -> 18 s). Without the audience:
    # only rows of the audience are looked up in it, and the cap's own subqueries find
    # the few capped residents by key, where ANDed with the audience SQLite scanned the
    # whole audience first (1M: 0.34 s of CPU before the first batch, now 5 ms).
    capped: frozenset[int] = frozenset()
    if plan.over_cap is not None:
        capped = frozenset(
            run(session, sa.select(resident.c.id).where(plan.over_cap)).scalars()
        )
        session.commit()

    def flush(chunk: Chunk) -> None:
        written = write_chunk(session, broadcast, chunk, rendered, now, on_commit, gate, patience)
        result.batches += written.batches
        result.recipients += written.recipients
        result.renderings += chunk.renderings

    def messages_for(context: Context) -> list[dict[str, Any]] | str:
        """The rendered messages, or the error text when this context cannot be rendered."""
        found = rendered.get(context)
        if found is None:
            key = context_key(context)
            if key in earlier:
                found = earlier[key]
            else:
                try:
                    found = plan.render(dict(zip(plan.context_fields, context, strict=True)))
                except Exception as exc:  # a render failure fails these deliveries, not all
                    found = f"could not render the message: {exc}"
                chunk.renderings += 1
            rendered[context] = found
        return found

    window = min(page_size, FIRST_PAGE_SIZE)
    while last_id < last_resident:
        upto = last_id + window
        rows = read_page(page, last_id, upto)
        session.commit()
        last_id, window = upto, page_size
        if not rows:
            continue
        # The hot loop: plain tuples and lists only (a million rows pass through here).
        for row in rows:
            if capped and row[0] in capped:
                chunk.others.append((row[0], DeliveryStatus.skipped_cap.value, None))
                result.skipped_over_cap += 1
                continue
            context: Context = tuple(row[2:]) if has_context else ()
            buffer = buffers.get(context)
            if buffer is None:
                messages = messages_for(context)
                if isinstance(messages, str):
                    chunk.others.append((row[0], DeliveryStatus.failed.value, messages))
                    result.failed += 1
                    continue
                buffer = buffers[context] = ([], [])
            buffer[0].append(row[0])
            buffer[1].append(row[1])
            if len(buffer[0]) >= MULTICAST_MAX:
                chunk.batches.append((context, buffer[0], buffer[1]))
                buffers[context] = ([], [])
                if len(chunk.batches) >= chunk_limit:
                    flush(chunk)
                    chunk = Chunk()
                    chunk_limit = min(chunk_batches, 2 * chunk_limit)
        if chunk.batches or len(chunk.others) >= page_size:
            flush(chunk)
            chunk = Chunk()
            chunk_limit = min(chunk_batches, 2 * chunk_limit)
    for context, (resident_ids, user_ids) in buffers.items():
        if resident_ids:
            chunk.batches.append((context, resident_ids, user_ids))
    flush(chunk)
    _complete(session, broadcast, now, result)
    return result


def _complete(
    session: Session, broadcast: Broadcast, now: datetime, result: DispatchResult
) -> None:
    """Record the totals (counted from the rows, so a resumed dispatch is right too)."""
    assert broadcast.id is not None
    counts = delivery_counts(session, broadcast.id)
    result.recipients_total = sum(counts.values())
    table = table_of(Broadcast)
    run(
        session,
        sa.update(table)
        .where(table.c.id == broadcast.id)
        .values(
            dispatched_at=now,
            updated_at=now,
            recipients_total=result.recipients_total,
            skipped_over_cap=counts.get(DeliveryStatus.skipped_cap.value, 0),
        ),
    )
    session.commit()
    finish_if_done(session, broadcast.id, now)
    session.commit()
    session.refresh(broadcast)


