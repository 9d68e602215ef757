"""The report through its interfaces: one API call, a CSV per table, the printable page,
LINE's statistics fetched with the SDK, and the suppression threshold on every count."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.app import create_app
from broadcaster.kpis import fiscal, insight, report, tables
from broadcaster.kpis.deliveries import sent_broadcasts
from broadcaster.kpis.models import UnitStatistic
from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import Settings
from tests.conftest import ResidentFactory, auth, make_settings
from tests.console.signing import sign_in
from tests.kpis.conftest import Send

# Keys whose values count residents (or messages to them): each must be "< N" or >= N.
RESIDENT_COUNTS = {
    "friends", "new_friends", "refollows", "blocks", "end_of_period", "recipients",
    "respondents", "comments", "used", "total", "attributed", "unattributed", "messages",
    *(f"{cls}_messages" for cls in ("notice", "emergency", "drill", "garbage")),
}
TARGETS = {
    "kpis.targets.friends": {"2026": 1100},
    "kpis.targets.deliveries": {"2026": 200},
    "kpis.targets.delivery_satisfaction": {"2026": 3.5},
}


def _counts(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _counts(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from _counts(item, key)
    elif key in RESIDENT_COUNTS or key.isdigit():  # distribution cells are "1".."5"
        yield key, value


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize("kpi_overrides", [TARGETS])
def test_every_count_of_residents_is_suppressed_below_the_threshold(
    engine: Engine, line_settings: Settings, send: Send, make_resident: ResidentFactory,
) -> None:
    ids = [make_resident(district="中央" if n % 2 else "北").id for n in range(25)]
    send("子育て支援課", residents=ids)
    send("子育て支援課", residents=ids[:5])
    with Session(engine) as session:
        data = report.build(session, line_settings, fiscal.fiscal_year_at(_now(), line_settings.tz),
                            _now())
    counts = list(_counts(data))
    assert len(counts) > 100
    for key, value in counts:
        assert value == "< 20" or (isinstance(value, int) and value >= 20), (key, value)
    for name, rows in tables.TABLES.items():
        assert all(list(row) == tables.COLUMNS[name] for row in rows(data)), name
    by_broadcast = data["blocks"]["by_broadcast"]
    assert [row["recipients"] for row in by_broadcast] == [25, "< 20"]
    assert data["friends"]["end_of_period"] == 25
    assert {row["district"]: row["friends"] for row in data["friends"]["by_district"]} == {
        "中央": "< 20", "北": "< 20"}


@pytest.mark.parametrize("kpi_overrides", [TARGETS])
def test_the_report_is_one_api_call_a_csv_per_table_and_a_printable_page(
    app_client: TestClient, tokens: dict[str, str], staff: dict[str, str],
    make_resident: ResidentFactory,
) -> None:
    for _ in range(21):
        make_resident()
    headers = auth(tokens["子育て支援課"])
    year = fiscal.fiscal_year_at(_now(), make_settings(Path("/tmp")).tz)
    answer = app_client.get("/api/v1/kpis/report", headers=headers)
    assert answer.status_code == 200
    data = answer.json()
    assert data["fiscal_year"] == year
    kpis = {row["key"]: row for row in data["kpis"]}
    assert set(kpis) == {"friends", "deliveries", "delivery_satisfaction",
                         "service_satisfaction", "staff_satisfaction"}
    if year == 2026:
        assert kpis["friends"]["target"] == 1100 and kpis["friends"]["achieved"] is False

    names = app_client.get("/api/v1/kpis/report/tables", headers=headers).json()["tables"]
    for name in names:
        table = app_client.get(f"/api/v1/kpis/report/tables/{name}.csv", headers=headers)
        assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
        assert table.content.startswith("\ufeff".encode())
    kpi_rows = list(csv.DictReader(io.StringIO(
        app_client.get("/api/v1/kpis/report/tables/kpis.csv", headers=headers).text.lstrip("\ufeff")
    )))
    assert (kpi_rows[0]["key"], kpi_rows[0]["actual"]) == ("friends", "21")
    assert app_client.get("/api/v1/kpis/report/tables/nope.csv", headers=headers).status_code == 404
    assert app_client.get("/api/v1/kpis/report", params={"fiscal_year": 1999},
                          headers=headers).status_code == 422
    assert app_client.get("/api/v1/kpis/report").status_code == 401

    sign_in(app_client, "kosodate")
    page = app_client.get("/console/kpis/report")
    assert page.status_code == 200
    assert f"{year}年度 成果指標（KPI）報告" in page.text and "<svg" in page.text
    assert "友だち数（年度末）" in page.text and "&lt; 20" in page.text


def test_line_statistics_are_fetched_per_broadcast_with_the_sdk(
    tmp_path: Path, engine: Engine, tokens: dict[str, str], make_resident: ResidentFactory,
) -> None:
    with SandboxThread(SandboxConfig(rate_limits={"insight": 100.0})) as sandbox:
        settings = make_settings(tmp_path, **{
            "line.api_base_url": sandbox.url,
            "line.channel_access_token": sandbox.config.channel_access_token,
            "quiet_hours.enabled": False,
        })
        from tests.delivery.scenario import deliver_all, dispatch_now, new_broadcast, text_plan

        residents = [make_resident() for _ in range(24)]
        broadcast = new_broadcast(engine, department_id=1, send_at=_now())
        assert broadcast.id is not None
        dispatch_now(engine, broadcast.id, text_plan(), now=_now())
        deliver_all(engine, settings)
        users = [r.line_user_id for r in residents]
        httpx.post(f"{sandbox.url}/_sandbox/insight/events",
                   json={"unit": f"b{broadcast.id}", "opened": users[:22], "clicked": users[:2]})
        app = create_app(settings, engine=engine, background=False)
        with TestClient(app) as client:
            fetched = client.post("/api/v1/kpis/line-statistics/fetch",
                                  headers=auth(tokens["情報政策課"]))
            refused = client.post("/api/v1/kpis/line-statistics/fetch",
                                  headers=auth(tokens["子育て支援課"]))
    assert refused.status_code == 403
    assert fetched.status_code == 200, fetched.text
    body = fetched.json()
    assert (body["fetched"], body["rate_limited"]) == (1, False)
    assert body["followers"]["status"] == "ready"
    with Session(engine) as session:
        stat = session.get(UnitStatistic, broadcast.id)
        assert stat is not None and (stat.unique_impression, stat.unique_click) == (22, None)
        [sent] = sent_broadcasts(session, datetime(2000, 1, 1, tzinfo=UTC), _now())
        assert insight.unit_name(sent.broadcast_id) == f"b{broadcast.id}"
