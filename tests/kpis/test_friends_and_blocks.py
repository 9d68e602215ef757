"""Friends over time and blocks attributed to broadcasts, from signed webhook events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.kpis import report
from broadcaster.kpis.models import FriendEvent
from broadcaster.settings import Settings
from segments.residents import Resident
from tests.conftest import line_user_id
from tests.kpis.conftest import Send
from tests.webhook.conftest import LineUser

TOKYO = ZoneInfo("Asia/Tokyo")
EVERYONE = {"kpis.suppression_threshold": 1}


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO).astimezone(UTC)  # type: ignore[misc]


def _at(user: LineUser, when: datetime, kind: str, **fields: object) -> None:
    """An event that happened at `when`: the webhook takes LINE's time, not its own."""
    user.send(kind, timestamp_ms=int(when.timestamp() * 1000), **fields)


def _resident_ids(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {r.line_user_id: r.id for r in session.exec(select(Resident)).all()}  # type: ignore[misc]


@pytest.mark.parametrize("kpi_overrides", [EVERYONE])
def test_follows_and_blocks_across_the_fiscal_year_end_land_in_their_own_year(
    make_user: Callable[[str], LineUser], engine: Engine, line_settings: Settings
) -> None:
    hanako, kenji, yui = (make_user(line_user_id(n)) for n in (101, 102, 103))
    _at(hanako, jst(2027, 3, 1, 9), "follow")
    _at(kenji, jst(2027, 3, 31, 23, 30), "follow")
    _at(kenji, jst(2027, 4, 1, 0, 30), "unfollow")
    _at(yui, jst(2027, 4, 2, 9), "follow")
    _at(yui, jst(2027, 4, 3, 9), "unfollow")
    _at(yui, jst(2027, 4, 5, 9), "follow", is_unblocked=True)
    with Session(engine) as session:
        assert len(session.exec(select(FriendEvent)).all()) == 6
        fy2026 = report.build(session, line_settings, 2026, jst(2027, 5, 1))
        fy2027 = report.build(session, line_settings, 2027, jst(2027, 4, 30))
    assert fy2026["friends"]["end_of_period"] == 2
    assert (fy2026["friends"]["new_friends"], fy2026["friends"]["blocks"]) == (2, 0)
    assert fy2027["friends"]["daily"][0] == {
        "day": "2027-04-01", "friends": 1, "new_friends": 0, "refollows": 0, "blocks": 1,
    }
    assert fy2027["friends"]["end_of_period"] == 2
    assert (fy2027["friends"]["new_friends"], fy2027["friends"]["refollows"],
            fy2027["friends"]["blocks"]) == (1, 1, 2)
    assert fy2027["period"]["figures_until"] == "2027-04-30"


@pytest.mark.parametrize("kpi_overrides", [EVERYONE])
def test_a_block_within_a_day_counts_against_the_broadcast_received_just_before(
    make_user: Callable[[str], LineUser], engine: Engine, line_settings: Settings, send: Send
) -> None:
    users = [make_user(line_user_id(200 + n)) for n in range(4)]
    for user in users:
        _at(user, jst(2026, 5, 1, 9), "follow")
    ids = _resident_ids(engine)
    everyone = [ids[u.user_id] for u in users]
    childcare = send("子育て支援課", jst(2026, 5, 10, 10), residents=everyone)
    garbage = send("環境課", jst(2026, 5, 10, 19), kind="garbage_reminder",
                   category="garbage", residents=everyone[:2])
    _at(users[0], jst(2026, 5, 10, 20), "unfollow")  # 1 h after the garbage reminder
    _at(users[2], jst(2026, 5, 11, 9), "unfollow")  # 23 h after the childcare notice
    _at(users[3], jst(2026, 5, 12, 11), "unfollow")  # 49 h after: unattributed
    with Session(engine) as session:
        fy = report.build(session, line_settings, 2026, jst(2026, 6, 1))
    by_broadcast = {row["broadcast_id"]: row for row in fy["blocks"]["by_broadcast"]}
    assert by_broadcast[garbage]["blocks"] == 1
    assert by_broadcast[garbage]["block_rate_percent"] == 50.0
    assert by_broadcast[childcare]["blocks"] == 1 and by_broadcast[childcare]["recipients"] == 4
    assert (fy["blocks"]["total"], fy["blocks"]["attributed"], fy["blocks"]["unattributed"]) == (
        3, 2, 1,
    )
    by_department = {row["department"]: row for row in fy["blocks"]["by_department"]}
    assert by_department["環境課"]["blocks"] == 1 and by_department["子育て支援課"]["blocks"] == 1
