"""Pages of a broadcast's recipients: windows of resident ids, read as plain rows.

Recipients are read in windows of ids (so no sort of the whole audience happens before
the first batch can go out, and nothing large is held in memory), each row (id,
line_user_id, *context), the context being the values of the fields the template reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from broadcaster.chunks import run
from broadcaster.db import table_of
from broadcaster.deliveries import Delivery
from segments.residents import Resident


def context_columns(fields: Sequence[str]) -> list[sa.ColumnElement[Any]]:
    table = table_of(Resident)
    missing = [name for name in fields if name not in table.c]  # type: ignore[attr-defined]
    if missing:
        raise ValueError(f"context field(s) not on Resident: {', '.join(missing)}")
    return [table.c[name] for name in fields]  # type: ignore[attr-defined]


def page_reader(
    session: Session,
) -> Callable[[sa.Select[Any], int, int], Sequence[Sequence[Any]]]:
    """How a page of recipients is read: rows (id, line_user_id, *context).

    On SQLite the page comes back as one JSON array built by SQLite: fetching 20,000 rows
    one by one releases and retakes the GIL for each, which beside a busy event loop costs
    more than reading them. PostgreSQL's driver fetches the page in one go anyway (and
    decoding the same page as JSON took longer than making its rows).
    """
    if session.connection().dialect.name != "sqlite":
        return lambda page, last_id, upto: run(
            session, page, {"last_id": last_id, "upto": upto}
        ).all()

    def read(page: sa.Select[Any], last_id: int, upto: int) -> Sequence[Sequence[Any]]:
        rows = page.subquery()
        packed = sa.select(sa.func.json_group_array(sa.func.json_array(*rows.c)))
        text = run(session, packed, {"last_id": last_id, "upto": upto}).scalar_one()
        return json.loads(text) if text else []

    return read


def page_query(
    audience: sa.ColumnElement[bool],
    columns: Sequence[sa.ColumnElement[Any]],
    broadcast_id: int,
    *,
    resumed: bool,
) -> sa.Select[Any]:
    """One window of recipients (`last_id` < id <= `upto`, bound at each read), in id order.

    A resumed dispatch reads only residents without a Delivery row for the broadcast yet
    (the ledger has written the rows of every batch before it resumes)."""
    resident = table_of(Resident)
    delivery = table_of(Delivery)
    query = sa.select(resident.c.id, resident.c.line_user_id, *columns).where(
        audience,
        # A window of ids bounded on both sides: with only `id > last`, SQLite may prefer an
        # index on the audience's columns and sort the whole audience for every page.
        resident.c.id > sa.bindparam("last_id"),
        resident.c.id <= sa.bindparam("upto"),
    )
    if resumed:
        # Only a resumed dispatch can meet residents already queued; a fresh one skips the
        # per-resident anti-join (the unique constraint still forbids a second row).
        query = query.where(
            ~sa.exists().where(
                delivery.c.broadcast_id == broadcast_id, delivery.c.resident_id == resident.c.id
            )
        )
    return query.order_by(resident.c.id)
