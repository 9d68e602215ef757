"""The one dispatch path and the lifecycle: claims decide, failures are shown, edits keep
what they did not change, and a broadcast due now goes at once."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster import lifecycle
from broadcaster.app import create_app
from broadcaster.audit import AuditEntry
from broadcaster.batches import Batch
from broadcaster.broadcast_edits import BroadcastConflict, cancel_broadcast
from broadcaster.broadcasts import Broadcast, BroadcastKind, BroadcastStatus
from broadcaster.db import table_of
from broadcaster.dispatch import dispatch_broadcast
from broadcaster.render import TEMPLATES_DIR, Renderer
from broadcaster.schedule import dispatch_due
from broadcaster.settings import Settings
from tests.broadcasts.conftest import jst, notice
from tests.clock import freeze_time
from tests.conftest import auth, make_settings

NOW = "2026-05-01 09:00:00+09:00"
T = jst(2026, 5, 1, 9)


def _reason(client: TestClient, headers: dict[str, str], broadcast_id: int) -> tuple[str, str]:
    body = client.get(f"/api/v1/broadcasts/{broadcast_id}", headers=headers).json()
    return body["status"], body["status_reason"] or ""


def test_finished_states_have_no_way_out_and_an_illegal_move_is_refused() -> None:
    for status in (BroadcastStatus.sent, BroadcastStatus.failed, BroadcastStatus.cancelled):
        assert lifecycle.TRANSITIONS[status] == frozenset()
    assert lifecycle.sources_of(BroadcastStatus.sending) == {BroadcastStatus.scheduled}
    with pytest.raises(lifecycle.IllegalTransition):
        lifecycle.move(
            None,  # type: ignore[arg-type]  # refused before any SQL
            1,
            BroadcastStatus.sending,
            T,
            sources={BroadcastStatus.draft},
        )


def test_a_cancel_from_a_stale_copy_after_the_claim_changes_nothing(
    engine, settings, renderer, schedule, cast
):
    broadcast_id = schedule(T)
    with Session(engine, expire_on_commit=False) as stale:
        seen = stale.get(Broadcast, broadcast_id)
        assert seen is not None and seen.status == BroadcastStatus.scheduled
        assert dispatch_broadcast(engine, broadcast_id, settings, renderer, T) is not None
        with pytest.raises(BroadcastConflict):
            cancel_broadcast(stale, seen, "staff", T)
        stale.rollback()
    with Session(engine) as session:
        row = session.get(Broadcast, broadcast_id)
        assert row is not None and row.status == BroadcastStatus.sending
        assert sum(batch.recipient_count for batch in session.exec(select(Batch))) == 3


def test_a_template_removed_after_creation_fails_the_broadcast_with_its_reason(
    engine, settings, client, tokens, department_id, tmp_path: Path, cast
):
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    (templates / "once.ja.j2").write_text("一度だけのお知らせです。", encoding="utf-8")
    residents = settings.residents

    def renderer() -> Renderer:
        return Renderer(
            templates, residents.languages, districts=residents.districts, zones=residents.zones
        )

    headers = auth(tokens["環境課"])
    client.app.state.renderer = renderer()  # type: ignore[attr-defined]
    with freeze_time(NOW):
        body = notice(template_name="once", template_text=None, category="general")
        created = client.post("/api/v1/broadcasts", json=body, headers=headers)
    assert created.status_code == 201, created.text
    (templates / "once.ja.j2").unlink()

    assert dispatch_due(engine, settings, renderer(), jst(2026, 5, 1, 10, 0, 1)) == 0
    status, reason = _reason(client, headers, created.json()["id"])
    assert status == "failed"
    assert "could not be planned" in reason and "once" in reason
    with Session(engine) as session:
        assert session.exec(select(Batch)).all() == []
        actions = [e.action for e in session.exec(select(AuditEntry)).all()]
    assert "broadcast.fail" in actions
    # Failed is final: the next tick leaves it alone.
    assert dispatch_due(engine, settings, renderer(), jst(2026, 5, 1, 10, 1)) == 0


def test_a_rule_the_database_refuses_fails_the_broadcast_instead_of_leaving_it_sending(
    engine, settings, renderer, client, tokens, cast
):
    headers = auth(tokens["環境課"])
    with freeze_time(NOW):
        created = client.post(
            "/api/v1/broadcasts", json=notice(category="general"), headers=headers
        )
    assert created.status_code == 201, created.text
    broadcast_id = created.json()["id"]
    # 1,200 conditions: valid as a rule, but deeper than SQLite's expression tree allows.
    # Stored directly, as a broadcast created before any rule budget at creation would be.
    huge = {"all": [{"field": "district", "op": "eq", "value": "中央"}] * 1200}
    with Session(engine) as session:
        table = table_of(Broadcast)
        session.connection().execute(
            sa.update(table).where(table.c.id == broadcast_id).values(rule=huge)
        )
        session.commit()

    assert dispatch_due(engine, settings, renderer, jst(2026, 5, 1, 10, 0, 1)) == 0
    status, reason = _reason(client, headers, broadcast_id)
    assert status == "failed"
    # Refused by the rule's own cap when planned (or by the database beyond it).
    assert any(
        text in reason
        for text in ("at most 200 conditions", "Expression tree is too large", "too many SQL")
    )
    with Session(engine) as session:
        assert session.exec(select(Batch)).all() == []


@freeze_time("2026-05-01 05:00:00+09:00")
def test_a_title_only_edit_of_a_0630_garbage_reminder_is_accepted(
    client, tokens, engine, settings, renderer, department_id
):
    from broadcaster.broadcast_creation import create_broadcast
    from broadcaster.broadcast_requests import BroadcastRequest

    request = BroadcastRequest(
        title="ごみ収集 東 5月1日（当日）",
        category="garbage",
        template_text="今日は燃やすごみの日です。",
        send_at=jst(2026, 5, 1, 6, 30),
        kind=BroadcastKind.garbage_reminder,
        quiet_hours_exempt=True,
    )
    with Session(engine, expire_on_commit=False) as session:
        now = jst(2026, 5, 1, 5)
        reminder = create_broadcast(
            session, "garbage", department_id, request, settings, renderer, now
        )
        session.commit()
    edited = client.patch(
        f"/api/v1/broadcasts/{reminder.id}",
        json={"title": "ごみ収集 東 5月1日（当日・訂正）"},
        headers=auth(tokens["環境課"]),
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["title"] == "ごみ収集 東 5月1日（当日・訂正）"
    assert edited.json()["quiet_hours_exempt"] is True
    assert edited.json()["send_at"].startswith("2026-05-01T06:30:00")


@pytest.fixture
def awake(tmp_path: Path, engine: Engine) -> Iterator[TestClient]:
    """The API at any hour (quiet hours off) with its dispatcher running, and nothing
    else: no scheduler tick can send a broadcast."""
    settings: Settings = make_settings(tmp_path, **{"quiet_hours.enabled": False})
    app = create_app(settings, engine=engine, background=False)
    with TestClient(app) as client:
        app.state.dispatcher.start()
        try:
            yield client
        finally:
            app.state.dispatcher.stop()


def test_a_broadcast_created_for_now_is_dispatched_at_once_not_at_the_next_tick(
    awake: TestClient, tokens, engine, cast
):
    headers = auth(tokens["環境課"])
    body = notice(category="general", send_at="now")
    created = awake.post("/api/v1/broadcasts", json=body, headers=headers)
    assert created.status_code == 201, created.text
    broadcast_id = created.json()["id"]
    deadline = time.monotonic() + 20
    url = f"/api/v1/broadcasts/{broadcast_id}"
    while awake.get(url, headers=headers).json()["dispatched_at"] is None:
        assert time.monotonic() < deadline, "not dispatched"
        time.sleep(0.05)
    with Session(engine) as session:
        batches = session.exec(select(Batch).where(Batch.broadcast_id == broadcast_id)).all()
    assert sum(batch.recipient_count for batch in batches) == 3
    # A later broadcast is left to its time.
    later = awake.post(
        "/api/v1/broadcasts",
        json=notice(category="general", send_at="2027-05-01T10:00:00"),  # within the horizon
        headers=headers,
    )
    assert later.json()["status"] == "scheduled"
