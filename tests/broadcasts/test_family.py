"""One family for a broadcast: the table and every API shape share BroadcastBase, and a
request survives being stored and read back with every field it set."""

from __future__ import annotations

from dataclasses import fields

from sqlmodel import Session

from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_edits import request_from
from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.broadcasts import (
    Broadcast,
    BroadcastBase,
    BroadcastCreate,
    BroadcastPublic,
    BroadcastUpdate,
)
from tests.broadcasts.conftest import jst


def test_the_table_and_every_api_shape_carry_every_base_field() -> None:
    for shape in (Broadcast, BroadcastCreate, BroadcastUpdate, BroadcastPublic):
        assert issubclass(shape, BroadcastBase)
        assert set(BroadcastBase.model_fields) <= set(shape.model_fields), shape.__name__


def test_a_stored_request_reads_back_with_every_field_it_set(
    engine, settings, renderer, department_id, cast
) -> None:
    original = BroadcastRequest(
        title="ごみ収集 東 5月2日（当日）",
        category="garbage",
        template_text="今日は{{ kinds }}の日です。",
        parameters={"kinds": "燃やすごみ"},
        rule={"field": "district", "op": "eq", "value": "中央"},
        send_at=jst(2026, 5, 2, 6, 30),
        recurrence="30 6 * * fri",
        kind="garbage_reminder",
        bypass_limits=False,
        quiet_hours_exempt=True,
        drill=True,
        source={"garbage": {"zone": "A"}},
    )
    with Session(engine, expire_on_commit=False) as session:
        stored = create_broadcast(
            session, "test", department_id, original, settings, renderer, jst(2026, 5, 1, 9)
        )
        session.commit()
        again = request_from(stored)
    lost = {
        f.name: (getattr(original, f.name), getattr(again, f.name))
        for f in fields(BroadcastRequest)
        if getattr(original, f.name) != getattr(again, f.name)
    }
    assert lost == {}
