"""Deliveries per fiscal year, held against what the sandbox recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.kpis import report
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import Settings
from tests.clock import freeze_time
from tests.conftest import ResidentFactory
from tests.kpis.conftest import Send

TOKYO = ZoneInfo("Asia/Tokyo")


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO).astimezone(UTC)  # type: ignore[misc]


def test_broadcasts_count_in_the_fiscal_year_and_month_tokyo_saw_them_sent(
    engine: Engine, sandbox: SandboxThread, line_settings: Settings, send: Send,
    make_resident: ResidentFactory,
) -> None:
    for _ in range(3):
        make_resident()
    # 23:30 on 31 March in Tokyo (14:30 UTC) is FY2026; 00:30 on 1 April is FY2027.
    send("子育て支援課", jst(2027, 3, 31, 23, 30))
    send("子育て支援課", jst(2027, 4, 1, 0, 30))
    send("危機管理課", jst(2027, 4, 2, 10), kind="emergency", priority=100)
    send("危機管理課", jst(2027, 4, 3, 10), kind="emergency", priority=100, drill=True)
    send("環境課", jst(2027, 4, 4, 19), kind="garbage_reminder", category="garbage")
    served = sandbox.totals()["recipients_served"]
    assert served == 15

    with Session(engine) as session, freeze_time(jst(2027, 5, 1)):
        fy2026 = report.build(session, line_settings, 2026, jst(2027, 5, 1))
        fy2027 = report.build(session, line_settings, 2027, jst(2027, 5, 1))
    assert fy2026["deliveries"]["counted"]["broadcasts"] == 1
    march = fy2026["deliveries"]["by_month"][-1]
    assert march["month"] == "2027-03" and march["notice_broadcasts"] == 1
    april = fy2027["deliveries"]["by_month"][0]
    assert (april["notice_broadcasts"], april["emergency_broadcasts"],
            april["drill_broadcasts"], april["garbage_broadcasts"]) == (1, 1, 1, 1)
    # Segment deliveries count notices and emergencies, not drills or garbage reminders.
    assert fy2027["deliveries"]["counted"]["broadcasts"] == 2
    by_department = {row["department"]: row for row in fy2027["deliveries"]["by_department"]}
    assert by_department["危機管理課"]["emergency_broadcasts"] == 1
    assert by_department["危機管理課"]["drill_broadcasts"] == 1
    assert by_department["環境課"]["garbage_broadcasts"] == 1
    # Three residents per broadcast is under the threshold: shown as "< 20", not 3.
    assert by_department["危機管理課"]["emergency_messages"] == "< 20"
    assert fy2027["deliveries"]["quota"][0]["used"] == "< 20"


@pytest.mark.parametrize("kpi_overrides", [{"kpis.suppression_threshold": 1,
                                            "kpis.monthly_message_limit": 200}])
def test_messages_and_quota_are_the_recipients_the_sandbox_served(
    engine: Engine, sandbox: SandboxThread, line_settings: Settings, send: Send,
    make_resident: ResidentFactory,
) -> None:
    ids = [make_resident().id for _ in range(7)]
    send("子育て支援課", jst(2026, 5, 10, 10))
    send("子育て支援課", jst(2026, 5, 20, 10), residents=ids[:4])
    send("環境課", jst(2026, 6, 1, 19), kind="garbage_reminder", category="garbage",
         residents=ids[:2])
    served = sandbox.totals()["recipients_served"]

    with Session(engine) as session:
        fy = report.build(session, line_settings, 2026, jst(2026, 7, 1))
    quota = {row["month"]: row for row in fy["deliveries"]["quota"]}
    assert quota["2026-05"]["used"] + quota["2026-06"]["used"] == served == 13
    assert quota["2026-05"] == {"month": "2026-05", "used": 11, "limit": 200,
                                "used_percent": 5.5}
    assert fy["deliveries"]["counted"] == {"broadcasts": 2, "messages": 11}
    rows = fy["deliveries"]["by_department_month"]
    [row] = [r for r in rows if r["department"] == "子育て支援課"]
    assert (row["month"], row["broadcasts"], row["messages"]) == ("2026-05", 2, 11)
