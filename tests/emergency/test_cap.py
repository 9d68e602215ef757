"""CAP alerts get a level from category, urgency, severity and certainty through a
configurable table, never from severity alone; refused documents are recorded."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session

from broadcaster.emergency.alert import parse_alert
from broadcaster.emergency.areas import AreaMap
from broadcaster.emergency.drafts import apply_alert
from broadcaster.settings import CapRule
from tests.conftest import T0, auth, make_settings
from tests.emergency import documents as docs
from tests.emergency.test_alerts import post


def test_a_child_abduction_alert_is_information_not_an_evacuation(session: Session) -> None:
    amber = docs.cap(category="Rescue", event="誘拐事件", severity="Severe", certainty="Observed")
    alert = parse_alert(amber, 100_000)
    assert (alert.level, alert.information) == (None, True)
    areas = AreaMap({"山間部": ["山間"]}, ["中央", "山間"])
    result = apply_alert(session, alert, "raw", areas, "drill_draft", T0)
    assert result.outcome == "information"
    assert result.draft is not None and result.draft.level is None


def test_a_homeland_security_advisory_is_information() -> None:
    advisory = docs.cap(category="Security", event="警戒情報", severity="Extreme")
    assert parse_alert(advisory, 100_000).level is None


def test_natural_hazards_get_levels_by_urgency_severity_and_certainty() -> None:
    def level(**fields: str) -> int | None:
        return parse_alert(docs.cap(**fields), 100_000).level

    assert level(severity="Extreme", certainty="Observed") == 5
    assert level(severity="Extreme", certainty="Likely") == 4
    assert level(severity="Severe", urgency="Expected") == 4
    assert level(severity="Moderate", urgency="Future", certainty="Possible") == 3
    assert level(severity="Minor") is None
    assert level(severity="Severe", certainty="Unlikely") is None


def test_the_table_is_configurable(tmp_path: Path) -> None:
    rules = [
        {"category": ["Safety"], "level": "ignore"},
        {"severity": ["Minor"], "level": 3},
    ]
    settings = make_settings(tmp_path, **{"emergency.cap_rules": rules})
    assert settings.emergency.cap_rules[0] == CapRule(category=["Safety"], level="ignore")
    minor = parse_alert(docs.cap(severity="Minor"), 100_000, settings.emergency.cap_rules)
    assert minor.level == 3
    ignored = parse_alert(docs.cap(category="Safety"), 100_000, settings.emergency.cap_rules)
    assert ignored.not_acted_on and "ignore" in ignored.not_acted_on


def test_refused_documents_are_listed_for_the_desk_with_the_reason(
    client: TestClient, tokens: dict[str, str]
) -> None:
    desk = tokens["危機管理課"]
    assert post(client, desk, docs.XXE).status_code == 422
    assert post(client, desk, docs.XXE).status_code == 422
    refused = client.get("/api/v1/alerts?outcome=refused", headers=auth(desk)).json()["alerts"]
    assert len(refused) == 1
    assert refused[0]["outcome"] == "refused" and "unsafe XML" in refused[0]["reason"]
    one = client.get(f"/api/v1/alerts/{refused[0]['id']}", headers=auth(desk)).json()
    assert "<!DOCTYPE" in one["raw"]


def test_every_outcome_is_listed(client: TestClient, tokens: dict[str, str]) -> None:
    desk = tokens["危機管理課"]
    post(client, desk, docs.cap())
    post(client, desk, docs.cap("other", area="<areaDesc>隣の町</areaDesc>"))
    alerts = client.get("/api/v1/alerts", headers=auth(desk)).json()["alerts"]
    assert [a["outcome"] for a in alerts] == ["outside_city", "draft_created"]
    assert "隣の町" in alerts[0]["reason"] and alerts[1]["title"] == "洪水"
