"""GET /api/v1/broadcasts/{id} and its deliveries: progress, paging, masking, access."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.conftest import auth
from tests.delivery.scenario import dispatch_now, text_plan


def test_progress_and_masked_paged_deliveries_for_the_owner_only(
    engine: Engine, app_client: TestClient, tokens: dict[str, str], residents, broadcast
) -> None:
    residents(5)
    b = broadcast(department_id=3)  # 危機管理課
    dispatch_now(engine, b.id, text_plan())
    own = auth(tokens["危機管理課"])
    body = app_client.get(f"/api/v1/broadcasts/{b.id}", headers=own).json()
    assert body["progress"]["deliveries"]["queued"] == 5 and body["progress"]["progress"] == 0
    page = app_client.get(f"/api/v1/broadcasts/{b.id}/deliveries?limit=3", headers=own).json()
    assert len(page["items"]) == 3 and page["next_after"] == page["items"][-1]["id"]
    assert all("…" in item["resident"] and len(item["resident"]) < 12 for item in page["items"])
    rest = app_client.get(f"/api/v1/broadcasts/{b.id}/deliveries?after={page['next_after']}",
                          headers=own).json()
    assert len(rest["items"]) == 2 and rest["next_after"] is None
    other = auth(tokens["環境課"])
    assert app_client.get(f"/api/v1/broadcasts/{b.id}", headers=other).status_code == 404
    assert app_client.get(f"/api/v1/broadcasts/{b.id}/deliveries", headers=other).status_code == 404
    admin = auth(tokens["情報政策課"])
    assert app_client.get(f"/api/v1/broadcasts/{b.id}", headers=admin).status_code == 200
