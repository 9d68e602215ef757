"""Who may do what: departments see only their own, emergencies need the disaster desk,
every change is audited and the audit log cannot be changed over HTTP."""

from __future__ import annotations

from sqlmodel import Session, select

from broadcaster.audit import AuditEntry
from broadcaster.batches import Batch
from tests.broadcasts.conftest import notice
from tests.clock import freeze_time
from tests.conftest import auth

NOW = "2026-05-01 09:00:00+09:00"


@freeze_time(NOW)
def test_a_department_creates_and_lists_only_its_own(client, tokens):
    created = client.post("/api/v1/broadcasts", json=notice(), headers=auth(tokens["子育て支援課"]))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "scheduled"
    assert body["send_at"] == "2026-05-01T10:00:00+09:00"
    client.post("/api/v1/broadcasts", json=notice(title="粗大ごみ"), headers=auth(tokens["環境課"]))

    own = client.get("/api/v1/broadcasts", headers=auth(tokens["子育て支援課"])).json()
    assert [b["title"] for b in own] == ["子育て広場のお知らせ"]
    everything = client.get("/api/v1/broadcasts", headers=auth(tokens["情報政策課"])).json()
    assert len(everything) == 2


@freeze_time(NOW)
def test_another_departments_broadcast_is_not_found(client, tokens):
    created = client.post("/api/v1/broadcasts", json=notice(), headers=auth(tokens["子育て支援課"]))
    broadcast_id = created.json()["id"]
    other = auth(tokens["環境課"])
    assert (
        client.patch(
            f"/api/v1/broadcasts/{broadcast_id}", json={"title": "x"}, headers=other
        ).status_code
        == 404
    )
    assert (
        client.post(f"/api/v1/broadcasts/{broadcast_id}/cancel", headers=other).status_code == 404
    )
    records = client.get(f"/api/v1/broadcasts/{broadcast_id}", headers=other)
    assert records.status_code in (404, 405)  # 405 until the records route is mounted
    admin = auth(tokens["情報政策課"])
    assert (
        client.patch(
            f"/api/v1/broadcasts/{broadcast_id}", json={"title": "改題"}, headers=admin
        ).status_code
        == 200
    )


@freeze_time(NOW)
def test_emergency_needs_the_disaster_desk(client, tokens, cast):
    body = notice(priority="emergency", send_at="now", category="general")
    refused = client.post("/api/v1/broadcasts", json=body, headers=auth(tokens["子育て支援課"]))
    assert refused.status_code == 403
    assert "disaster desk" in refused.json()["detail"]
    assert refused.json()["code"] == "broadcast.emergency_forbidden"
    preview = client.post("/api/v1/broadcasts/preview", json=body, headers=auth(tokens["環境課"]))
    assert preview.status_code == 403


@freeze_time("2026-05-01 23:30:00+09:00")
def test_an_emergency_is_dispatched_at_creation_even_in_quiet_hours(client, tokens, cast, engine):
    body = notice(priority="emergency", send_at="now", category="general")
    created = client.post("/api/v1/broadcasts", json=body, headers=auth(tokens["危機管理課"]))
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "sending"
    assert created.json()["recipients_total"] == 3
    with Session(engine) as session:
        batches = session.exec(select(Batch)).all()
    assert batches and all(batch.priority == 100 for batch in batches)


@freeze_time(NOW)
def test_every_change_is_audited_and_the_log_is_read_only(client, tokens):
    headers = auth(tokens["子育て支援課"])
    broadcast_id = client.post("/api/v1/broadcasts", json=notice(), headers=headers).json()["id"]
    client.patch(f"/api/v1/broadcasts/{broadcast_id}", json={"title": "改題"}, headers=headers)
    client.post(f"/api/v1/broadcasts/{broadcast_id}/cancel", headers=headers)

    log = client.get("/api/v1/audit", params={"entity": "broadcast"}, headers=headers).json()
    assert [entry["action"] for entry in log] == [
        "broadcast.cancel",
        "broadcast.update",
        "broadcast.create",
    ]
    update = log[1]
    assert update["before"]["title"] == "子育て広場のお知らせ"
    assert update["after"]["title"] == "改題"
    assert update["actor"].startswith("子育て支援課")
    assert update["at"].endswith("+09:00")
    # Another department does not see these entries.
    assert client.get("/api/v1/audit", headers=auth(tokens["環境課"])).json() == []
    entry_id = log[0]["id"]
    for method in ("put", "patch", "delete"):
        response = client.request(
            method, f"/api/v1/audit/{entry_id}", headers=auth(tokens["情報政策課"])
        )
        assert response.status_code in (404, 405)
    assert client.delete("/api/v1/audit", headers=auth(tokens["情報政策課"])).status_code == 405


def test_audit_entries_are_only_ever_added(engine, client, tokens):
    with freeze_time(NOW):
        headers = auth(tokens["子育て支援課"])
        client.post("/api/v1/broadcasts", json=notice(), headers=headers)
    with Session(engine) as session:
        assert len(session.exec(select(AuditEntry)).all()) == 1
