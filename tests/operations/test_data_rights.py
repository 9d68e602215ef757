"""Residents' data rights: export, erasure, retention, a change of vendor, backups."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.audit import AuditEntry
from broadcaster.backup import BackupError, backup_sqlite
from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.clock import utcnow
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.retention import prune
from broadcaster.settings import RetentionSettings, Settings, SettingsError
from broadcaster.transfer import TransferError, export_choices, import_choices
from broadcaster.webhook_events import WebhookEvent
from segments.residents import Resident, ResidentAttribute, ResidentInterest
from tests.conftest import _create_schema, auth, make_settings

CHANNEL = "U" + "c" * 32


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    """Every test here on SQLite, and on PostgreSQL when a URL is given: the queries are
    Core SQL over JSON columns, where the engines differ."""
    return any_engine


def sent_to(session: Session, residents: list[Resident], *, days_ago: float = 0,
            batch_status: str = BatchStatus.accepted) -> int:
    """A finished broadcast `days_ago` with one batch and a delivery row per resident."""
    at = utcnow() - timedelta(days=days_ago)
    broadcast = Broadcast(department_id=1, title="断水のお知らせ", category="general",
                          status=BroadcastStatus.sent, template_text="x", send_at=at,
                          created_at=at, updated_at=at, finished_at=at)
    session.add(broadcast)
    session.flush()
    assert broadcast.id is not None
    batch = Batch(broadcast_id=broadcast.id, messages=[], recipients=[r.line_user_id for r in
                  residents], recipient_count=len(residents), retry_key=str(uuid.uuid4()),
                  status=batch_status, created_at=at, ledgered_at=at)
    session.add(batch)
    session.flush()
    for resident in residents:
        assert resident.id is not None
        session.add(Delivery(broadcast_id=broadcast.id, batch_id=batch.id,
                             resident_id=resident.id, status=DeliveryStatus.accepted,
                             accepted_at=at))
    session.commit()
    return broadcast.id


def test_an_admin_exports_one_resident_and_the_audit_names_only_the_internal_id(
    app_client: TestClient, tokens: dict[str, str], cast: dict[str, Resident], engine: Engine
) -> None:
    family = cast["family"]
    with Session(engine) as session:
        sent_to(session, [family, cast["senior"]])
    response = app_client.post("/api/v1/privacy/export", headers=auth(tokens["情報政策課"]),
                               json={"line_user_id": family.line_user_id})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["resident"]["line_user_id"] == family.line_user_id
    assert data["interests"] == ["イベント", "子育て"]
    assert [a["name"] for a in data["verified_attributes"]] == ["子育て世帯"]
    assert [m["title"] for m in data["messages"]] == ["断水のお知らせ"]
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "resident.export")).one()
    assert entry.entity_id == str(family.id)
    assert family.line_user_id not in json.dumps([entry.before, entry.after, entry.entity_id])


def test_only_admins_may_export_or_erase(
    app_client: TestClient, tokens: dict[str, str], cast: dict[str, Resident]
) -> None:
    body = {"line_user_id": cast["family"].line_user_id}
    for path in ("/api/v1/privacy/export", "/api/v1/privacy/erase"):
        assert app_client.post(path, headers=auth(tokens["子育て支援課"]), json=body
                               ).status_code == 403


def test_erasure_removes_identity_and_choices_and_keeps_counts(
    app_client: TestClient, tokens: dict[str, str], cast: dict[str, Resident], engine: Engine
) -> None:
    family, senior = cast["family"], cast["senior"]
    with Session(engine) as session:
        broadcast_id = sent_to(session, [family, senior])
    admin = auth(tokens["情報政策課"])
    erased = app_client.post("/api/v1/privacy/erase", headers=admin,
                             json={"line_user_id": family.line_user_id})
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"resident_id": family.id, "erased": True}
    with Session(engine) as session:
        row = session.get(Resident, family.id)
        assert row is not None and row.line_user_id == f"erased-{family.id}"
        assert row.district is None and row.birth_date is None and row.follow_state == "blocked"
        for model in (ResidentInterest, ResidentAttribute):
            assert session.exec(select(model).where(model.resident_id == family.id)).all() == []
        [batch] = session.exec(select(Batch).where(Batch.broadcast_id == broadcast_id)).all()
        assert batch.recipients == [senior.line_user_id] and batch.recipient_count == 2
        deliveries = session.exec(select(Delivery).where(Delivery.broadcast_id == broadcast_id))
        assert len(deliveries.all()) == 2  # the count stays, anonymous
        texts = json.dumps([r.model_dump(mode="json") for r in session.exec(select(AuditEntry))])
        assert family.line_user_id not in texts
    again = app_client.post("/api/v1/privacy/export", headers=admin,
                            json={"line_user_id": family.line_user_id})
    assert again.status_code == 404


def test_erasure_waits_while_a_batch_to_the_resident_is_pending_and_changes_nothing(
    app_client: TestClient, tokens: dict[str, str], cast: dict[str, Resident], engine: Engine
) -> None:
    family = cast["family"]
    with Session(engine) as session:
        sent_to(session, [family], batch_status=BatchStatus.pending)
    response = app_client.post("/api/v1/privacy/erase", headers=auth(tokens["情報政策課"]),
                               json={"line_user_id": family.line_user_id})
    assert response.status_code == 409
    with Session(engine) as session:
        row = session.get(Resident, family.id)
        assert row is not None and row.line_user_id == family.line_user_id
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "resident.erase")
                            ).all() == []


def test_retention_drops_old_delivery_rows_and_webhook_ids_and_keeps_recent_ones(
    engine: Engine, cast: dict[str, Resident], tokens: dict[str, str]
) -> None:
    now = utcnow()
    with Session(engine) as session:
        old = sent_to(session, [cast["family"]], days_ago=500)
        recent = sent_to(session, [cast["family"]], days_ago=2)
        for n, days in enumerate((40, 1)):
            session.add(WebhookEvent(webhook_event_id=f"E{n}", event_type="follow",
                                     occurred_at=now - timedelta(days=days),
                                     received_at=now - timedelta(days=days)))
        session.commit()
        pruned = prune(session, RetentionSettings(), now)
        session.commit()
        assert (pruned.deliveries, pruned.batches, pruned.webhook_events) == (1, 1, 1)
        left = {d.broadcast_id for d in session.exec(select(Delivery))}
        assert left == {recent}
        [old_batch] = session.exec(select(Batch).where(Batch.broadcast_id == old)).all()
        assert old_batch.recipients == [] and old_batch.recipient_count == 1
        assert session.get(Broadcast, old) is not None
        assert prune(session, RetentionSettings(), now).deliveries == 0  # nothing twice


def test_a_retention_shorter_than_the_caps_week_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"retention\.delivery_days"):
        make_settings(tmp_path, **{"retention.delivery_days": 3})


def test_settings_move_to_a_new_installation_on_the_same_channel(
    engine: Engine, cast: dict[str, Resident], settings: Settings, tmp_path: Path
) -> None:
    now = utcnow()
    with Session(engine) as session:
        document = export_choices(session, settings, actor="t", now=now, channel=CHANNEL)
        session.commit()
    assert {r["line_user_id"] for r in document["residents"]} == {
        r.line_user_id for r in cast.values()
    }
    new = sa.create_engine(f"sqlite:///{tmp_path / 'new.db'}")
    _create_schema(new)
    data = json.dumps(document).encode()
    with Session(new) as session:
        with pytest.raises(TransferError, match="cannot be moved to another channel"):
            import_choices(session, data, settings, actor="t", now=now, channel="U" + "d" * 32)
        imported = import_choices(session, data, settings, actor="t", now=now, channel=CHANNEL)
        session.commit()
        assert (imported.created, imported.updated) == (3, 0)
        senior = session.exec(select(Resident).where(
            Resident.line_user_id == cast["senior"].line_user_id)).one()
        assert senior.district == "山間" and senior.garbage_zone == "C"
        interests = session.exec(select(ResidentInterest.interest).where(
            ResidentInterest.resident_id == senior.id)).all()
        assert sorted(interests) == ["健康・福祉", "防災"]


def test_a_document_with_one_bad_resident_imports_nothing(
    engine: Engine, cast: dict[str, Resident], settings: Settings
) -> None:
    now = utcnow()
    with Session(engine) as session:
        document = export_choices(session, settings, actor="t", now=now, channel=CHANNEL)
        document["residents"].append({**document["residents"][0],
                                      "line_user_id": "U" + "e" * 32, "district": "月面"})
        document["residents"][0]["district"] = "北"
        with pytest.raises(TransferError, match=r"residents\[3\].district"):
            import_choices(session, json.dumps(document).encode(), settings, actor="t",
                           now=now, channel=CHANNEL)
        session.rollback()
        assert session.get(Resident, cast["family"].id).district == "中央"  # type: ignore[union-attr]


def test_db_backup_copies_a_live_sqlite_database(sqlite_engine: Engine, tmp_path: Path) -> None:
    with Session(sqlite_engine) as session:
        for n in range(3):
            session.add(Resident(line_user_id=f"U{n:032x}", created_at=utcnow(),
                                 updated_at=utcnow()))
        session.commit()
    engine = sqlite_engine
    target = tmp_path / "backup" / "copy.db"
    pages = backup_sqlite(engine.url.render_as_string(), target)
    assert pages > 0
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM resident").fetchone() == (3,)
    with pytest.raises(BackupError, match="exists"):
        backup_sqlite(engine.url.render_as_string(), target)
    with pytest.raises(BackupError, match="pg_dump"):
        backup_sqlite("postgresql+psycopg://localhost/broadcaster", tmp_path / "pg.db")


def test_the_command_line_reads_the_id_from_a_file_and_asks_before_erasing(
    tmp_path: Path, cast: dict[str, Resident], engine: Engine
) -> None:
    from typer.testing import CliRunner

    from broadcaster.cli import app
    from tests.conftest import REPO

    env = {"BROADCASTER_CONFIG": str(REPO / "config.toml"),
           "BROADCASTER_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    who = tmp_path / "who.txt"
    who.write_text(cast["english"].line_user_id + "\n")
    runner = CliRunner()
    exported = runner.invoke(app, ["privacy", "export", str(who), "--actor", "窓口"], env=env)
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["resident"]["language"] == "en"
    declined = runner.invoke(app, ["privacy", "erase", str(who)], env=env, input="n\n")
    assert declined.exit_code == 1 and "nothing erased" in declined.output
    erased = runner.invoke(app, ["privacy", "erase", str(who), "--yes"], env=env)
    assert erased.exit_code == 0, erased.output
    with Session(engine) as session:
        actions = session.exec(select(AuditEntry.action, AuditEntry.actor)).all()
    assert ("resident.export", "窓口 (command line)") in actions
    assert sum(1 for action, _ in actions if action == "resident.erase") == 1
