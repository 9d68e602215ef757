"""The outbox: turn a broadcast's audience into committed batches before anything is sent.

Recipients are read in windows of resident ids (so no sort of the whole audience happens
before the first batch can go out, and nothing large is held in memory). Each recipient
joins the buffer of its render context (the values of the fields the template reads); a
buffer that reaches 500 becomes a batch. Each distinct context is rendered once. Batches
and their Delivery rows are written in chunks, each chunk one transaction, so the worker
can start sending the first batches while later ones are still being written.

A crash mid-dispatch loses only what was not committed: a rerun reads only residents who
have no Delivery row for this broadcast yet, and reuses the messages already rendered
for a context (stored on its batches), so nobody is queued twice and little is rerendered.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from broadcaster import ledger, lifecycle
from broadcaster.batches import Batch, BatchStatus, Endpoint
from broadcaster.broadcasts import FINISHED, Broadcast, BroadcastStatus, Priority
from broadcaster.db import table_of
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.delivery.gate import EmergencyGate
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
Context = tuple[Any, ...]


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


# (resident_id, status, error) of a delivery written without a batch (capped, unrenderable).
_Other = tuple[int, str, str | None]


@dataclass
class _Chunk:
    batches: list[tuple[Context, list[int], list[str]]] = field(default_factory=list)
    others: list[_Other] = field(default_factory=list)
    renderings: int = 0


def _run(session: Session, statement: Any, params: Any = None) -> sa.CursorResult[*tuple[Any, ...]]:
    """Core execution inside the session's transaction (SQLModel deprecates `execute`)."""
    return session.connection().execute(statement, params)


def context_key(context: Context) -> str:
    return json.dumps(list(context), ensure_ascii=False, default=str)


def _columns(fields: Sequence[str]) -> list[sa.ColumnElement[Any]]:
    table = table_of(Resident)
    missing = [name for name in fields if name not in table.c]  # type: ignore[attr-defined]
    if missing:
        raise ValueError(f"context field(s) not on Resident: {', '.join(missing)}")
    return [table.c[name] for name in fields]  # type: ignore[attr-defined]


def _rendered_before(session: Session, broadcast_id: int) -> dict[str, list[dict[str, Any]]]:
    """Messages already rendered for each context, from this broadcast's batches."""
    batch = table_of(Batch)
    first = (
        sa.select(sa.func.min(batch.c.id))
        .where(batch.c.broadcast_id == broadcast_id, batch.c.context_key.is_not(None))
        .group_by(batch.c.context_key)
    )
    rows = _run(
        session, sa.select(batch.c.context_key, batch.c.messages).where(batch.c.id.in_(first))
    )
    return {key: messages for key, messages in rows}


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
    context_columns = _columns(plan.context_fields)
    resident = table_of(Resident)
    delivery = table_of(Delivery)
    batch = table_of(Batch)
    resumed = any(
        _run(session, sa.select(table.c.id).where(table.c.broadcast_id == broadcast_id).limit(1))
        .first()
        is not None
        for table in (batch, delivery)
    )
    if resumed:
        # Every resident already in a batch gets its row, so the anti-join below sees them.
        ledger.catch_up(session, now, [broadcast_id])
    session.commit()
    base = sa.select(
        resident.c.id, resident.c.line_user_id, *context_columns
    ).where(
        plan.audience,
        # A window of ids bounded on both sides: with only `id > last`, SQLite may prefer an
        # index on the audience's columns and sort the whole audience for every page.
        resident.c.id > sa.bindparam("last_id"),
        resident.c.id <= sa.bindparam("upto"),
    )
    if resumed:
        # Only a resumed dispatch can meet residents already queued; a fresh one skips the
        # per-resident anti-join (the unique constraint still forbids a second row).
        base = base.where(
            ~sa.exists().where(
                delivery.c.broadcast_id == broadcast_id, delivery.c.resident_id == resident.c.id
            )
        )
    page = base.order_by(resident.c.id)
    read_page = _page_reader(session)
    last_resident = _run(session, sa.select(sa.func.max(resident.c.id))).scalar() or 0

    # The lifecycle owns the status: a claimed broadcast is already sending.
    if not lifecycle.ensure_sending(session, broadcast_id, now):
        session.rollback()
        raise ValueError(f"broadcast {broadcast_id} is neither scheduled nor sending")
    session.commit()

    result = DispatchResult()
    rendered: dict[Context, list[dict[str, Any]] | str] = {}
    earlier = _rendered_before(session, broadcast_id) if resumed else {}
    session.commit()  # end the read so the next write starts its own transaction
    # Per context: resident ids and LINE user ids of the batch being filled.
    buffers: dict[Context, tuple[list[int], list[str]]] = {}
    chunk = _Chunk()
    chunk_limit = min(chunk_batches, FIRST_CHUNK_BATCHES)
    patience = time.monotonic() + EMERGENCY_WAIT_SECONDS
    if broadcast.priority >= Priority.emergency:
        gate = None  # an emergency never waits for another
    last_id = 0
    has_context = bool(context_columns)
    # Who is at the cap is read once, not with every page: as a subquery of each page it
    # was evaluated again and again (1M recipients: 11 s -> 18 s). Without the audience:
    # only rows of the audience are looked up in it, and the cap's own subqueries find
    # the few capped residents by key, where ANDed with the audience SQLite scanned the
    # whole audience first (1M: 0.34 s of CPU before the first batch, now 5 ms).
    capped: frozenset[int] = frozenset()
    if plan.over_cap is not None:
        capped = frozenset(
            _run(session, sa.select(resident.c.id).where(plan.over_cap)).scalars()
        )
        session.commit()

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
                    _write(
                        session, broadcast, chunk, rendered, now, result, on_commit, gate, patience
                    )
                    chunk = _Chunk()
                    chunk_limit = min(chunk_batches, 2 * chunk_limit)
        if chunk.batches or len(chunk.others) >= page_size:
            _write(session, broadcast, chunk, rendered, now, result, on_commit, gate, patience)
            chunk = _Chunk()
            chunk_limit = min(chunk_batches, 2 * chunk_limit)
    for context, (resident_ids, user_ids) in buffers.items():
        if resident_ids:
            chunk.batches.append((context, resident_ids, user_ids))
    _write(session, broadcast, chunk, rendered, now, result, on_commit, gate, patience)
    _complete(session, broadcast, now, result)
    return result


def _page_reader(
    session: Session,
) -> Callable[[sa.Select[Any], int, int], Sequence[Sequence[Any]]]:
    """How a page of recipients is read: rows (id, line_user_id, *context).

    On SQLite the page comes back as one JSON array built by SQLite: fetching 20,000 rows
    one by one releases and retakes the GIL for each, which beside a busy event loop costs
    more than reading them. PostgreSQL's driver fetches the page in one go anyway (and
    decoding the same page as JSON took longer than making its rows).
    """
    if session.connection().dialect.name != "sqlite":
        return lambda page, last_id, upto: _run(
            session, page, {"last_id": last_id, "upto": upto}
        ).all()

    def read(page: sa.Select[Any], last_id: int, upto: int) -> Sequence[Sequence[Any]]:
        rows = page.subquery()
        packed = sa.select(sa.func.json_group_array(sa.func.json_array(*rows.c)))
        text = _run(session, packed, {"last_id": last_id, "upto": upto}).scalar_one()
        return json.loads(text) if text else []

    return read


def _insert_deliveries(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """(broadcast_id, batch_id, resident_id, status, error) rows straight to the DBAPI's
    executemany: the ORM/Core per-row parameter processing costs more than the insert."""
    connection = session.connection()
    marks = "?, ?, ?, ?, ?" if connection.dialect.paramstyle == "qmark" else "%s, %s, %s, %s, %s"
    connection.exec_driver_sql(
        f"INSERT INTO {Delivery.__tablename__} (broadcast_id, batch_id, resident_id, status, "
        f"error) VALUES ({marks})",
        rows,  # type: ignore[arg-type]
    )


def _write(
    session: Session,
    broadcast: Broadcast,
    chunk: _Chunk,
    rendered: Mapping[Context, list[dict[str, Any]] | str],
    now: datetime,
    result: DispatchResult,
    on_commit: Callable[[], None] | None,
    gate: EmergencyGate | None,
    patience: float,
) -> None:
    """One transaction: the chunk's batches (with retry keys) and all their deliveries;
    `on_commit` is told when they are committed (a worker waiting for work, say)."""
    broadcast_id = broadcast.id
    assert broadcast_id is not None
    if not chunk.batches and not chunk.others and not chunk.renderings:
        return
    if gate is not None:
        # The worker sends emergency batches first, but they must exist: on SQLite two
        # dispatches take turns for the one write lock, and a normal chunk holding it
        # doubled the time an evacuation order took to be queued.
        gate.wait_clear(max(0.0, patience - time.monotonic()))
    others: list[tuple[Any, ...]] = [
        (broadcast_id, None, resident_id, status, error)
        for resident_id, status, error in chunk.others
    ]
    if chunk.batches:
        batch_rows = [
            {
                "broadcast_id": broadcast_id,
                "priority": broadcast.priority,
                "endpoint": (Endpoint.push if len(user_ids) == 1 else Endpoint.multicast).value,
                "messages": rendered[context],
                "recipients": user_ids,
                "resident_ids": resident_ids,
                "recipient_count": len(user_ids),
                "retry_key": str(uuid.uuid4()),
                "status": BatchStatus.pending.value,
                "attempts": 0,
                "created_at": now,
                "context_key": context_key(context),
            }
            for context, resident_ids, user_ids in chunk.batches
        ]
        ids = (
            _run(
                session,
                sa.insert(table_of(Batch)).returning(
                    table_of(Batch).c.id, sort_by_parameter_order=True
                ),
                batch_rows,
            )
            .scalars()
            .all()
        )
        result.batches += len(ids)
        result.recipients += sum(len(resident_ids) for _, resident_ids, _ in chunk.batches)
    if others:
        _insert_deliveries(session, others)
        result.recipients += len(others)
    if chunk.renderings:
        table = table_of(Broadcast)
        _run(
            session,
            sa.update(table)
            .where(table.c.id == broadcast_id)
            .values(renderings=table.c.renderings + chunk.renderings),
        )
        result.renderings += chunk.renderings
    session.commit()
    if on_commit is not None and chunk.batches:
        on_commit()


def _complete(
    session: Session, broadcast: Broadcast, now: datetime, result: DispatchResult
) -> None:
    """Record the totals (counted from the rows, so a resumed dispatch is right too)."""
    assert broadcast.id is not None
    counts = delivery_counts(session, broadcast.id)
    result.recipients_total = sum(counts.values())
    table = table_of(Broadcast)
    _run(
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


def resume_dispatches(
    engine: sa.engine.Engine,
    plan_for: Callable[[Session, Broadcast], DispatchPlan],
    now: datetime,
) -> int:
    """Finish every dispatch a crash interrupted (status `sending`, no `dispatched_at`).

    Call once at start, before or alongside the worker. `plan_for(session, broadcast)`
    builds the same plan the first run used. Returns how many dispatches were resumed.
    """
    table = table_of(Broadcast)
    with Session(engine, expire_on_commit=False) as session:
        ids = (
            _run(
                session,
                sa.select(table.c.id)
                .where(
                    table.c.status == BroadcastStatus.sending.value, table.c.dispatched_at.is_(None)
                )
                .order_by(table.c.priority.desc(), table.c.id),
            )
            .scalars()
            .all()
        )
        session.commit()
        for broadcast_id in ids:
            broadcast = session.get(Broadcast, broadcast_id)
            assert broadcast is not None
            dispatch(session, broadcast, plan_for(session, broadcast), now)
    return len(ids)
