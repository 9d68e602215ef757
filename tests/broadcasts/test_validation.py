"""Creation is all-or-nothing: every refusal is a 422 naming what to fix, nothing stored."""

from __future__ import annotations

import pytest

from tests.broadcasts.conftest import notice
from tests.clock import freeze_time
from tests.conftest import auth

NOW = "2026-05-01 09:00:00+09:00"


def refused(client, tokens, body):
    response = client.post("/api/v1/broadcasts", json=body, headers=auth(tokens["子育て支援課"]))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "broadcast.refused" and problem["errors"], problem
    return {"field": problem["errors"][0]["path"], "message": problem["errors"][0]["message"]}


@freeze_time(NOW)
def test_template_errors_name_the_variable_and_line(client, tokens, rows):
    detail = refused(client, tokens, notice(template_text="こんにちは\n{{ no_such_thing }}です"))
    assert detail["field"] == "template"
    assert "line 2" in detail["message"] and "no_such_thing" in detail["message"]
    detail = refused(client, tokens, notice(template_name="no_such_template", template_text=None))
    assert "no_such_template" in detail["message"]
    assert rows() == []


@freeze_time(NOW)
def test_a_bad_rule_names_its_path(client, tokens, rows):
    rule = {
        "all": [
            {"field": "district", "op": "eq", "value": "中央"},
            {"field": "district", "op": "eq", "value": "月面"},
        ]
    }
    detail = refused(client, tokens, notice(rule=rule))
    assert detail["field"] == "rule.all[1].value"
    assert "月面" in detail["message"]
    assert rows() == []


@freeze_time(NOW)
def test_over_line_limits_is_refused(client, tokens):
    detail = refused(client, tokens, notice(template_text="あ" * 5001, parameters={}))
    assert detail["field"] in ("messages", "template")
    assert "5000" in detail["message"] or "5,000" in detail["message"]


@freeze_time(NOW)
def test_unknown_category_lists_the_known_ones(client, tokens):
    detail = refused(client, tokens, notice(category="gossip"))
    assert detail["field"] == "category"
    assert "childcare" in detail["message"]


@freeze_time(NOW)
def test_quiet_hours_refusal_suggests_the_next_allowed_time(client, tokens, rows):
    detail = refused(client, tokens, notice(send_at="2026-05-01T22:30:00"))
    assert detail == {
        "field": "send_at",
        "message": "send_at 2026-05-01 22:30 JST falls in quiet hours 21:00–07:00; "
        "next allowed time 2026-05-02 07:00 JST",
    }
    # The same moment given in UTC is the same refusal.
    detail = refused(client, tokens, notice(send_at="2026-05-01T13:30:00Z"))
    assert "2026-05-01 22:30 JST" in detail["message"]
    assert rows() == []


@freeze_time("2026-05-01 22:00:00+09:00")
def test_send_now_inside_quiet_hours_is_refused(client, tokens):
    detail = refused(client, tokens, notice(send_at="now"))
    assert "next allowed time 2026-05-02 07:00 JST" in detail["message"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"send_at": "2026-04-30T10:00:00"}, "send_at"),
        ({"recurrence": "every monday"}, "recurrence"),
        ({"segment_id": 999}, "segment_id"),
        ({"template_name": "x"}, "template"),
        ({"digest": True}, "digest"),
    ],
)
@freeze_time(NOW)
def test_other_refusals_name_their_field(client, tokens, overrides, field):
    assert refused(client, tokens, notice(**overrides))["field"] == field


@freeze_time(NOW)
def test_a_saved_segments_current_version_is_copied(client, tokens, engine):
    headers = auth(tokens["子育て支援課"])
    segment = client.post(
        "/api/v1/segments",
        json={"name": "中央", "rule": {"field": "district", "op": "eq", "value": "中央"}},
        headers=headers,
    )
    assert segment.status_code == 201, segment.text
    segment_id = segment.json()["id"]
    created = client.post("/api/v1/broadcasts", json=notice(segment_id=segment_id), headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["segment_version"] == 1
    assert created.json()["rule"] == {"field": "district", "op": "eq", "value": "中央"}
    # Another department cannot use it.
    other = client.post(
        "/api/v1/broadcasts", json=notice(segment_id=segment_id), headers=auth(tokens["環境課"])
    )
    assert other.status_code == 422


@freeze_time(NOW)
def test_a_recurrence_that_only_fires_at_night_is_refused(client, tokens):
    detail = refused(client, tokens, notice(recurrence="0 23 * * *"))
    assert detail["field"] == "recurrence"
    assert "quiet hours 21:00–07:00" in detail["message"]
