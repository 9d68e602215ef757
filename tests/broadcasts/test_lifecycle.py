"""Status transitions through the API: draft, approval, scheduled, sending, sent, cancelled."""

from __future__ import annotations

from broadcaster.schedule import dispatch_due
from tests.broadcasts.conftest import jst, notice
from tests.clock import freeze_time
from tests.conftest import auth

NOW = "2026-05-01 09:00:00+09:00"


@freeze_time(NOW)
def test_a_draft_is_scheduled_by_an_edit(client, tokens):
    headers = auth(tokens["子育て支援課"])
    draft = client.post("/api/v1/broadcasts", json=notice(draft=True), headers=headers).json()
    assert draft["status"] == "draft"
    scheduled = client.patch(
        f"/api/v1/broadcasts/{draft['id']}", json={"draft": False}, headers=headers
    )
    assert scheduled.json()["status"] == "scheduled"


def test_scheduled_goes_to_sending_then_sent_and_is_then_frozen(
    client, tokens, engine, settings, renderer, cast
):
    headers = auth(tokens["子育て支援課"])
    with freeze_time(NOW):
        # Nobody matches the rule: dispatching finishes it at once.
        body = notice(rule={"field": "district", "op": "eq", "value": "西"})
        empty = client.post("/api/v1/broadcasts", json=body, headers=headers).json()
        full = client.post("/api/v1/broadcasts", json=notice(), headers=headers).json()
    assert dispatch_due(engine, settings, renderer, jst(2026, 5, 1, 10, 0, 1)) == 2
    with freeze_time("2026-05-01 10:01:00+09:00"):
        listed = {b["id"]: b for b in client.get("/api/v1/broadcasts", headers=headers).json()}
        assert listed[empty["id"]]["status"] == "sent"
        assert listed[full["id"]]["status"] == "sending"
        assert listed[full["id"]]["recipients_total"] == 3
        for broadcast_id, current in ((empty["id"], "sent"), (full["id"], "sending")):
            edit = client.patch(
                f"/api/v1/broadcasts/{broadcast_id}", json={"title": "x"}, headers=headers
            )
            assert edit.status_code == 409
            assert edit.json()["code"] == "broadcast.conflict"
            assert f"is {current};" in edit.json()["detail"]
            cancel = client.post(f"/api/v1/broadcasts/{broadcast_id}/cancel", headers=headers)
            assert cancel.status_code == 409


@freeze_time(NOW)
def test_cancel_then_cancel_again_is_a_conflict(client, tokens, engine, settings, renderer):
    headers = auth(tokens["子育て支援課"])
    created = client.post("/api/v1/broadcasts", json=notice(), headers=headers).json()
    cancelled = client.post(f"/api/v1/broadcasts/{created['id']}/cancel", headers=headers)
    assert cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/broadcasts/{created['id']}/cancel", headers=headers)
    assert again.status_code == 409 and "is cancelled;" in again.json()["detail"]
    assert dispatch_due(engine, settings, renderer, jst(2026, 5, 1, 10, 1)) == 0
    listed = client.get("/api/v1/broadcasts", params={"status": "cancelled"}, headers=headers)
    assert [b["id"] for b in listed.json()] == [created["id"]]


def test_approval_flow(tmp_path, engine, tokens, renderer):
    from fastapi.testclient import TestClient

    from broadcaster.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, **{"scheduling.approval_required": True})
    app = create_app(settings, engine=engine, background=False)
    app.state.renderer = renderer
    department, admin = auth(tokens["子育て支援課"]), auth(tokens["情報政策課"])
    with TestClient(app, headers={"Accept-Language": "en"}) as client, freeze_time(NOW):
        created = client.post("/api/v1/broadcasts", json=notice(), headers=department).json()
        assert created["status"] == "awaiting_approval"
        # Not due while waiting.
        assert dispatch_due(engine, settings, renderer, jst(2026, 5, 1, 10, 0, 1)) == 0
        url = f"/api/v1/broadcasts/{created['id']}"
        assert client.post(f"{url}/approve", headers=department).status_code == 403
        approved = client.post(f"{url}/approve", headers=admin).json()
        assert approved["status"] == "scheduled"
        assert approved["approved_by"].startswith("情報政策課")
        assert client.post(f"{url}/approve", headers=admin).status_code == 409
        # A department's edit sends it back for approval.
        edited = client.patch(url, json={"title": "改題"}, headers=department).json()
        assert edited["status"] == "awaiting_approval" and edited["approved_by"] is None
        # An admin's own broadcast needs nobody's approval.
        own = client.post("/api/v1/broadcasts", json=notice(), headers=admin).json()
        assert own["status"] == "scheduled"


@freeze_time(NOW)
def test_preview_shows_one_sample_per_language_and_the_quota(client, tokens, cast, rows):
    body = notice(template_text="{{ resident.district }}: {{ day }}")
    preview = client.post(
        "/api/v1/broadcasts/preview", json=body, headers=auth(tokens["子育て支援課"])
    )
    assert preview.status_code == 200, preview.text
    data = preview.json()
    assert data["recipients"] == 3 and data["quota"] == 3
    assert [s["language"] for s in data["samples"]] == ["en", "ja"]
    assert data["samples"][1]["messages"] == [{"type": "text", "text": "中央: 5月10日"}]
    assert "…" in data["samples"][0]["resident"]
    assert rows() == []


def test_openapi_documents_the_examples(client):
    schema = client.get("/openapi.json").json()
    create = schema["paths"]["/api/v1/broadcasts"]["post"]
    examples = create["requestBody"]["content"]["application/json"]["examples"]
    assert {"inline", "saved_segment_recurring", "emergency"} <= set(examples)
    assert "BroadcastPublic" in schema["components"]["schemas"]
