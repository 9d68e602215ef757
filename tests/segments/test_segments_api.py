"""The segments API: saved versions per department, refusals naming the path, previews
that never show a full LINE user id."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.audit import AuditEntry
from segments.residents import Resident
from tests.conftest import ResidentFactory, auth

SENIORS = {"all": [{"field": "age", "op": "gte", "value": 65}]}


def _create(
    client: TestClient, token: str, name: str = "高齢者", rule: dict[str, Any] = SENIORS
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/segments", json={"name": name, "rule": rule}, headers=auth(token)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_updating_the_rule_adds_a_version_and_keeps_the_old_one(
    app_client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    token = tokens["子育て支援課"]
    segment = _create(app_client, token)
    families = {"field": "子育て世帯", "op": "eq", "value": True}
    response = app_client.patch(
        f"/api/v1/segments/{segment['id']}", json={"rule": families}, headers=auth(token)
    )
    assert response.status_code == 200, response.text
    body = app_client.get(f"/api/v1/segments/{segment['id']}", headers=auth(token)).json()
    assert body["current_version"] == 2
    assert body["rule"] == families
    assert [(v["version"], v["rule"]) for v in body["versions"]] == [(2, families), (1, SENIORS)]
    with Session(engine) as session:
        actions = [e.action for e in session.exec(select(AuditEntry).order_by(AuditEntry.id))]  # type: ignore[arg-type]
    assert actions == ["segment.create", "segment.update"]


def test_a_department_cannot_see_another_departments_segment(
    app_client: TestClient, tokens: dict[str, str]
) -> None:
    segment = _create(app_client, tokens["子育て支援課"])
    other = auth(tokens["環境課"])
    assert app_client.get(f"/api/v1/segments/{segment['id']}", headers=other).status_code == 404
    assert (
        app_client.patch(
            f"/api/v1/segments/{segment['id']}", json={"name": "x"}, headers=other
        ).status_code
        == 404
    )
    preview = app_client.post(
        "/api/v1/segments/preview", json={"segment_id": segment["id"]}, headers=other
    )
    assert preview.status_code == 404
    assert app_client.get("/api/v1/segments", headers=other).json() == []
    admin = app_client.get("/api/v1/segments", headers=auth(tokens["情報政策課"])).json()
    assert [s["id"] for s in admin] == [segment["id"]]


def test_names_are_unique_within_a_department_only(
    app_client: TestClient, tokens: dict[str, str]
) -> None:
    _create(app_client, tokens["子育て支援課"])
    again = app_client.post(
        "/api/v1/segments",
        json={"name": "高齢者", "rule": SENIORS},
        headers=auth(tokens["子育て支援課"]),
    )
    assert again.status_code == 409
    _create(app_client, tokens["環境課"])


def test_a_bad_rule_is_a_422_naming_the_path(
    app_client: TestClient, tokens: dict[str, str]
) -> None:
    rule = {
        "all": [
            {"field": "age", "op": "gte", "value": 65},
            {"field": "district", "op": "in", "value": ["中火"]},
        ]
    }
    for method, url in (("post", "/api/v1/segments"), ("post", "/api/v1/segments/preview")):
        response = app_client.request(
            method, url, json={"name": "x", "rule": rule}, headers=auth(tokens["環境課"])
        )
        assert response.status_code == 422
        problem = response.json()
        assert problem["errors"][0]["path"] == "rule.all[1].value[0]"
        assert "unknown district '中火'" in problem["errors"][0]["message"]


def test_preview_counts_breaks_down_and_masks_user_ids(
    app_client: TestClient,
    tokens: dict[str, str],
    cast: dict[str, Resident],
    make_resident: ResidentFactory,
) -> None:
    make_resident(district="山間", birth_year=1950, follow_state="blocked")
    rule = {
        "any": [
            {"field": "age", "op": "gte", "value": 65},
            {"field": "language", "op": "eq", "value": "en"},
        ]
    }
    response = app_client.post(
        "/api/v1/segments/preview",
        json={"rule": rule, "on": "2026-04-01"},
        headers=auth(tokens["環境課"]),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 2
    assert body["by_district"] == {"山間": 1, "北": 1}
    assert body["by_language"] == {"ja": 1, "en": 1}
    assert [sample["age"] for sample in body["samples"]] == [77, None]
    for resident in cast.values():
        assert resident.line_user_id not in response.text
    assert all("…" in sample["user"] for sample in body["samples"])


def test_preview_of_a_saved_segment_uses_its_current_version(
    app_client: TestClient, tokens: dict[str, str], cast: dict[str, Resident]
) -> None:
    token = auth(tokens["子育て支援課"])
    segment = _create(app_client, token["Authorization"].removeprefix("Bearer "))
    app_client.patch(
        f"/api/v1/segments/{segment['id']}",
        json={"rule": {"field": "district", "op": "eq", "value": "北"}},
        headers=token,
    )
    current = app_client.post(
        "/api/v1/segments/preview", json={"segment_id": segment["id"]}, headers=token
    ).json()
    first = app_client.post(
        "/api/v1/segments/preview",
        json={"segment_id": segment["id"], "version": 1, "on": "2026-04-01"},
        headers=token,
    ).json()
    assert current["by_district"] == {"北": 1}
    assert first["by_district"] == {"山間": 1}


def test_stats_count_followers_and_blocks(
    app_client: TestClient,
    tokens: dict[str, str],
    cast: dict[str, Resident],
    make_resident: ResidentFactory,
) -> None:
    make_resident(follow_state="blocked")
    body = app_client.get("/api/v1/residents/stats", headers=auth(tokens["環境課"])).json()
    assert body == {
        "following": 3,
        "blocked": 1,
        "by_district": {"中央": 1, "山間": 1, "北": 1},
        "by_language": {"ja": 2, "en": 1},
    }
