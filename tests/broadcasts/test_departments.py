"""Departments (admin): tokens are shown once, stored hashed, and can be revoked."""

from __future__ import annotations

from sqlmodel import Session, select

from broadcaster.departments import ApiToken, hash_token
from tests.clock import freeze_time
from tests.conftest import auth


def test_admin_creates_a_department_whose_token_is_shown_once(client, tokens, engine):
    admin = auth(tokens["情報政策課"])
    created = client.post("/api/v1/departments", json={"name": "福祉課"}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["token"]
    assert secret.startswith("bct_") and body["role"] == "department"
    with Session(engine) as session:
        stored = session.exec(select(ApiToken).where(ApiToken.department_id == body["id"])).one()
    assert stored.token_hash == hash_token(secret) and secret not in stored.token_hash
    listed = client.get("/api/v1/departments", headers=admin).json()
    assert "福祉課" in [d["name"] for d in listed]
    assert "token" not in next(d for d in listed if d["name"] == "福祉課")
    # The new token works; a duplicate name is a conflict.
    assert client.get("/api/v1/broadcasts", headers=auth(secret)).status_code == 200
    assert (
        client.post("/api/v1/departments", json={"name": "福祉課"}, headers=admin).status_code
        == 409
    )


def test_a_revoked_token_is_refused(client, tokens):
    admin = auth(tokens["情報政策課"])
    department = client.post("/api/v1/departments", json={"name": "観光課"}, headers=admin).json()
    rotated = client.post(f"/api/v1/departments/{department['id']}/tokens", headers=admin).json()
    old_id = department["tokens"][0]["id"]
    revoked = client.post(
        f"/api/v1/departments/{department['id']}/tokens/{old_id}/revoke", headers=admin
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"].endswith("+09:00")
    assert client.get("/api/v1/broadcasts", headers=auth(department["token"])).status_code == 401
    assert client.get("/api/v1/broadcasts", headers=auth(rotated["token"])).status_code == 200
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=admin).json()]
    assert actions[:3] == ["token.revoke", "token.issue", "department.create"]


def test_only_admins_manage_departments(client, tokens):
    for name in ("子育て支援課", "危機管理課"):
        headers = auth(tokens[name])
        assert client.get("/api/v1/departments", headers=headers).status_code == 403
        assert (
            client.post("/api/v1/departments", json={"name": "x"}, headers=headers).status_code
            == 403
        )


def test_the_token_list_shows_when_each_token_was_last_used(client, tokens, engine):
    admin = auth(tokens["情報政策課"])
    with freeze_time("2026-05-01T01:00:00Z"):
        client.get("/api/v1/broadcasts", headers=auth(tokens["子育て支援課"]))
    with freeze_time("2026-05-01T01:03:00Z"):  # within 5 minutes: not written again
        client.get("/api/v1/broadcasts", headers=auth(tokens["子育て支援課"]))
    listed = client.get("/api/v1/departments", headers=admin).json()
    used = next(d for d in listed if d["name"] == "子育て支援課")["tokens"][0]["last_used_at"]
    assert used == "2026-05-01T10:00:00+09:00"
    with freeze_time("2026-05-01T01:06:00Z"):
        client.get("/api/v1/broadcasts", headers=auth(tokens["子育て支援課"]))
    listed = client.get("/api/v1/departments", headers=admin).json()
    used = next(d for d in listed if d["name"] == "子育て支援課")["tokens"][0]["last_used_at"]
    assert used == "2026-05-01T10:06:00+09:00"
