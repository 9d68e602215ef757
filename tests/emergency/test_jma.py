"""Every JMA report type a municipality acts on makes the draft the desk expects (or a
recorded "not acted on"): both generations of warning names, reports without EventID
threaded by type + area + kind, 訂正 and 取消, levels from the one table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from broadcaster.departments import Role, create_department
from broadcaster.emergency import levels
from broadcaster.emergency.alert import AlertError, parse_alert
from broadcaster.emergency.areas import AreaMap
from broadcaster.emergency.drafts import AlertOutcome, apply_alert
from broadcaster.emergency.models import DraftStatus, Emergency, EmergencyStatus
from broadcaster.emergency.shelters import DISASTER_KINDS
from tests.conftest import T0
from tests.emergency import telegrams as tg

DISTRICTS = ["中央", "北", "南", "東", "西", "山間"]
AREAS = AreaMap({"4010000": DISTRICTS, "600": ["南", "東"]}, DISTRICTS)


def apply(session: Session, data: bytes, minutes: int = 0) -> AlertOutcome:
    alert = parse_alert(data, 100_000)
    result = apply_alert(
        session, alert, data.decode(), AREAS, "drill_draft", T0 + timedelta(minutes=minutes)
    )
    session.commit()
    return result


def at(hour: int, minute: int = 0) -> str:
    return f"2026-07-01T{hour:02d}:{minute:02d}:00+09:00"


def test_h27_storm_surge_warning_with_empty_event_id_makes_a_level_4_draft(
    session: Session,
) -> None:
    result = apply(session, tg.weather(tg.H27, tg.item(tg.kind("高潮警報", "08"))))
    assert result.outcome == "draft_created"
    assert result.draft is not None
    assert (result.draft.level, result.draft.kind) == (4, "高潮")
    assert result.draft.districts == DISTRICTS
    assert result.record.title == tg.H27
    assert result.draft.text.endswith("（出典：気象庁ホームページ）")


def test_h27_special_warning_title_vpww53_is_level_5(session: Session) -> None:
    result = apply(session, tg.weather(tg.H27_SPECIAL, tg.item(tg.kind("大雨特別警報", "33"))))
    assert result.draft is not None and (result.draft.level, result.draft.kind) == (5, "土砂災害")


def test_r06_level_3_heavy_rain_is_inundation_not_landslide(session: Session) -> None:
    result = apply(session, tg.weather(tg.R06, tg.item(tg.kind("レベル３大雨警報"))))
    assert result.draft is not None
    assert (result.draft.level, result.draft.kind) == (3, "内水氾濫")


def test_r06_landslide_warning_upgrades_lifts_and_a_new_event_makes_a_new_draft(
    session: Session,
) -> None:
    first = apply(session, tg.weather(tg.R06, tg.item(tg.kind("レベル４土砂災害危険警報"))))
    assert first.draft is not None and (first.draft.level, first.draft.kind) == (4, "土砂災害")
    upgraded = apply(
        session,
        tg.weather(
            tg.R06,
            tg.item(tg.kind("レベル５土砂災害特別警報", status="危険警報から特別警報")),
            report_time=at(15),
        ),
        minutes=50,
    )
    assert (upgraded.outcome, upgraded.draft and upgraded.draft.id) == (
        "draft_updated",
        first.draft.id,
    )
    assert upgraded.draft is not None and upgraded.draft.level == 5
    lowered = apply(
        session,
        tg.weather(
            tg.R06,
            tg.item(tg.kind("レベル２土砂災害注意報", status="特別警報から注意報")),
            report_time=at(18),
        ),
        minutes=230,
    )
    assert lowered.outcome == "draft_cancelled"
    assert lowered.draft is not None and lowered.draft.status == DraftStatus.cancelled
    next_week = apply(
        session,
        tg.weather(
            tg.R06,
            tg.item(tg.kind("レベル４土砂災害危険警報")),
            report_time="2026-07-08T10:00:00+09:00",
        ),
        minutes=60 * 24 * 7,
    )
    assert next_week.outcome == "draft_created"
    assert next_week.draft is not None and next_week.draft.id != first.draft.id


def test_r06_advisories_only_are_recorded_as_not_acted_on(session: Session) -> None:
    vpww61 = tg.weather(
        "気象警報・注意報（Ｒ０６）（その他注警報）",
        tg.item(tg.kind("雷注意報") + tg.kind("レベル２大雨注意報")),
    )
    result = apply(session, vpww61)
    assert (result.outcome, result.draft) == ("not_acted_on", None)
    assert result.record.reason and "レベル2" in result.record.reason


def test_a_special_warning_in_the_next_town_does_not_raise_our_level(session: Session) -> None:
    items = tg.item(tg.kind("大雨警報", "03")) + tg.item(
        tg.kind("大雨特別警報", "33"), tg.NEIGHBOUR
    )
    result = apply(session, tg.weather(tg.H27, items))
    assert result.draft is not None and result.draft.level == 3


def test_a_correction_updates_the_draft(session: Session) -> None:
    first = apply(session, tg.weather(tg.H27, tg.item(tg.kind("大雨警報", "03"))))
    corrected = apply(
        session,
        tg.weather(
            tg.H27,
            tg.item(tg.kind("大雨特別警報", "33")),
            info_type="訂正",
            report_time=at(14, 20),
        ),
        minutes=10,
    )
    assert corrected.outcome == "draft_updated"
    assert corrected.draft is not None and first.draft is not None
    assert corrected.draft.id == first.draft.id and corrected.draft.level == 5


def test_all_warnings_lifted_in_our_area_lifts_the_draft(session: Session) -> None:
    apply(session, tg.weather(tg.H27, tg.item(tg.kind("大雨警報", "03"))))
    none_left = tg.weather(
        tg.H27, tg.item(tg.kind("", status="発表警報・注意報はなし")), report_time=at(20)
    )
    assert apply(session, none_left, minutes=300).outcome == "draft_cancelled"


@pytest.mark.parametrize("name", ["警戒", "レベル４土砂災害危険警報"])
def test_landslide_alert_both_generations_make_level_4_and_lift(
    session: Session, name: str
) -> None:
    issued = apply(session, tg.landslide(name, "3"))
    assert issued.draft is not None and (issued.draft.level, issued.draft.kind) == (4, "土砂災害")
    lifted = apply(session, tg.landslide("解除", "1", serial="2", report_time=at(18)), minutes=5)
    assert lifted.outcome == "draft_cancelled"


def test_river_flood_level_comes_from_the_headline_and_areas_from_city_codes(
    session: Session,
) -> None:
    warning = apply(session, tg.river("氾濫警戒情報", "30"))
    assert warning.outcome == "draft_created"
    assert warning.draft is not None
    assert (warning.draft.level, warning.draft.kind, warning.draft.districts) == (
        3,
        "洪水",
        DISTRICTS,
    )
    danger = apply(
        session, tg.river("氾濫危険情報", "40", serial="2", report_time=at(15)), minutes=50
    )
    assert danger.outcome == "draft_updated" and danger.draft is not None
    assert danger.draft.level == 4
    lifted = apply(
        session, tg.river("氾濫警戒情報解除", "10", serial="3", report_time=at(19)), minutes=290
    )
    assert lifted.outcome == "draft_cancelled"


def test_r06_river_name_and_a_river_elsewhere(session: Session) -> None:
    result = apply(session, tg.river("レベル４氾濫危険警報", "40"))
    assert result.draft is not None and result.draft.level == 4
    elsewhere = apply(
        session, tg.river("氾濫警戒情報", "30", cities=(tg.NEIGHBOUR,), event_id="other")
    )
    assert elsewhere.outcome == "outside_city"


def test_tsunami_warning_makes_an_evacuation_draft_and_its_cancellation_withdraws_it(
    session: Session,
) -> None:
    warning = apply(session, tg.tsunami((("600", "津波警報", "51"),)))
    assert warning.draft is not None
    assert (warning.draft.level, warning.draft.kind, warning.draft.districts) == (
        4,
        "津波",
        ["南", "東"],
    )
    cancel = apply(
        session,
        tg.tsunami((("600", "津波警報", "51"),), info_type="取消", report_time=at(14, 15)),
        minutes=5,
    )
    assert cancel.outcome == "draft_cancelled"
    assert cancel.draft is not None and cancel.draft.id == warning.draft.id


def test_tsunami_lifted_to_slight_sea_level_change_lifts_the_draft(session: Session) -> None:
    apply(session, tg.tsunami((("600", "大津波警報", "52"),)))
    lowered = apply(
        session,
        tg.tsunami((("600", "津波予報（若干の海面変動）", "71"),), report_time=at(16)),
        minutes=110,
    )
    assert lowered.outcome == "draft_cancelled"


def test_record_short_time_heavy_rain_is_information(session: Session) -> None:
    result = apply(session, tg.rain_record())
    assert result.outcome == "information"
    assert result.draft is not None
    assert result.draft.information and result.draft.level is None


def test_a_report_type_we_do_not_act_on_is_recorded_not_refused(session: Session) -> None:
    result = apply(session, tg.report("震度速報", "", "", info_kind="震度速報"))
    assert (result.outcome, result.draft) == ("not_acted_on", None)
    assert result.record.id is not None and "震度速報" in (result.record.reason or "")


def test_a_warning_after_the_confirmed_order_was_lifted_starts_a_new_draft(
    session: Session,
) -> None:
    first = apply(session, tg.weather(tg.H27, tg.item(tg.kind("大雨警報", "03"))))
    assert first.draft is not None
    desk, _ = create_department(session, "危機管理課", Role.disaster_desk, T0)
    assert desk.id is not None
    emergency = Emergency(
        level=3,
        kind="土砂災害",
        districts=DISTRICTS,
        department_id=desk.id,
        created_by="desk",
        created_at=T0,
        status=EmergencyStatus.lifted,
    )
    session.add(emergency)
    session.flush()
    first.draft.status, first.draft.emergency_id = DraftStatus.confirmed, emergency.id
    session.add(first.draft)
    session.commit()
    again = apply(
        session,
        tg.weather(tg.H27, tg.item(tg.kind("大雨警報", "03")), report_time=at(23)),
        minutes=500,
    )
    assert again.outcome == "draft_created"


def test_non_utf8_documents_are_refused_clearly() -> None:
    shift_jis = tg.weather(tg.H27, tg.item(tg.kind("高潮警報", "08"))).decode()
    shift_jis = shift_jis.replace('encoding="UTF-8"', 'encoding="Shift_JIS"')
    with pytest.raises(AlertError) as declared:
        parse_alert(shift_jis.encode("cp932"), 100_000)
    assert "Shift_JIS" in str(declared.value) and "UTF-8" in str(declared.value)
    undeclared = shift_jis.replace(' encoding="Shift_JIS"', "").encode("cp932")
    with pytest.raises(AlertError, match="not valid UTF-8"):
        parse_alert(undeclared, 100_000)


def test_the_level_table_names_its_source_and_uses_shelter_kinds() -> None:
    assert "避難情報に関するガイドライン" in levels.SOURCE
    for row in levels.TABLE:
        assert row.kind in DISASTER_KINDS
        assert row.level in (None, 2, 3, 4, 5)
    assert levels.correspondence("レベル５高潮特別警報") == levels.Correspondence(
        "レベル5高潮特別警報", "高潮", 5
    )
    assert levels.correspondence("暴風警報", "05") is None


def test_warnings_no_municipality_acts_on_are_recorded_and_lift_nothing(
    session: Session,
) -> None:
    storm_only = apply(session, tg.weather(tg.H27, tg.item(tg.kind("暴風警報", "05"))))
    assert (storm_only.outcome, storm_only.draft) == ("not_acted_on", None)
    surge = apply(
        session,
        tg.weather(tg.H27, tg.item(tg.kind("高潮警報", "08")), report_time=at(15)),
        minutes=1,
    )
    assert surge.draft is not None
    storm_lifted = tg.weather(
        tg.H27,
        tg.item(
            tg.kind("高潮警報", "08", status="継続") + tg.kind("暴風警報", "05", status="解除")
        ),
        report_time=at(16),
    )
    kept = apply(session, storm_lifted, minutes=100)
    assert kept.outcome == "draft_updated"
    assert kept.draft is not None and kept.draft.status == DraftStatus.open


@pytest.mark.parametrize(
    ("issue", "cancel"),
    [
        (
            tg.weather(tg.H27, tg.item(tg.kind("高潮警報", "08"))),
            tg.weather(tg.H27, tg.item(tg.kind("高潮警報", "08")), info_type="取消"),
        ),
        (
            tg.weather(tg.R06, tg.item(tg.kind("レベル４土砂災害危険警報"))),
            tg.weather(tg.R06, tg.item(tg.kind("レベル４土砂災害危険警報")), info_type="取消"),
        ),
        (tg.landslide("警戒", "3"), tg.landslide("警戒", "3", info_type="取消")),
        (tg.river("氾濫警戒情報", "30"), tg.river("氾濫警戒情報", "30", info_type="取消")),
        (
            tg.tsunami((("600", "津波注意報", "62"),)),
            tg.tsunami((("600", "津波注意報", "62"),), info_type="取消"),
        ),
    ],
    ids=["H27", "R06", "VXWW50", "VXKO", "VTSE41"],
)
def test_cancellation_withdraws_the_draft_of_every_type(
    session: Session, issue: bytes, cancel: bytes
) -> None:
    made = apply(session, issue)
    assert made.outcome == "draft_created"
    withdrawn = apply(session, cancel, minutes=5)
    assert withdrawn.outcome == "draft_cancelled"
    assert withdrawn.draft is not None and made.draft is not None
    assert withdrawn.draft.id == made.draft.id


def test_a_tsunami_correction_updates_the_draft(session: Session) -> None:
    made = apply(session, tg.tsunami((("600", "津波注意報", "62"),)))
    corrected = apply(
        session,
        tg.tsunami((("600", "大津波警報", "52"),), info_type="訂正", report_time=at(14, 12)),
        minutes=2,
    )
    assert corrected.outcome == "draft_updated"
    assert corrected.draft is not None and made.draft is not None
    assert corrected.draft.id == made.draft.id
    assert corrected.draft.title.endswith("津波警報・注意報・予報a")


@pytest.mark.parametrize("status", ["訓練", "試験"])
def test_exercise_telegrams_of_the_new_types_make_drill_drafts(
    session: Session, status: str
) -> None:
    result = apply(session, tg.river("氾濫危険情報", "40", status=status))
    assert result.draft is not None and result.draft.drill
