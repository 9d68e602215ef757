"""One bad series is reported, not fatal; no input crashes the importer; refusals say why."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from broadcaster.cli import app
from broadcaster.db import make_engine
from broadcaster.garbage.days import CalendarError
from broadcaster.garbage.ical import read_days
from broadcaster.garbage.kinds import kind_table
from broadcaster.garbage.models import CalendarImport, CollectionDay
from broadcaster.settings import Settings
from tests.conftest import REPO, auth, make_settings
from tests.garbage.conftest import Importer, allday, vcal

IMPORTED = datetime(2026, 3, 25, 3, 0, tzinfo=UTC)

# A city calendar of eight series; the sixth has an impossible UNTIL (a 31st of September).
SERIES = [
    ("burn-mo", "燃やすごみ", "20260406", "FREQ=WEEKLY;BYDAY=MO,TH"),
    ("nonburn", "燃やさないごみ", "20260408", "FREQ=MONTHLY;BYDAY=2WE"),
    ("pet", "ペットボトル", "20260407", "FREQ=WEEKLY;BYDAY=TU"),
    ("bottle", "びん類", "20260409", "FREQ=MONTHLY;BYDAY=1TH,3TH"),
    ("can", "缶", "20260410", "FREQ=MONTHLY;BYDAY=2FR,4FR"),
    ("paper", "古紙・古布", "20260415", "FREQ=MONTHLY;BYDAY=3WE;UNTIL=20240931"),
    ("plastic", "プラスチック製容器包装", "20260403", "FREQ=WEEKLY;BYDAY=FR"),
    ("oversized", "粗大ごみ（要予約）", "20260420", "FREQ=MONTHLY;BYDAY=3MO"),
]


def city_calendar(*more: str) -> bytes:
    series = (allday(uid, start, summary, f"RRULE:{rule}") for uid, summary, start, rule in SERIES)
    return vcal(*series, *more)


def read(settings: Settings, data: bytes, **kwargs: object) -> object:
    return read_days(
        data, start=date(2026, 4, 1), end=date(2026, 7, 1), tz=settings.tz,
        table=kind_table(settings), zones=settings.residents.zones,
        zone_aliases=settings.garbage.zone_aliases, zone="A", **kwargs,  # type: ignore[arg-type]
    )


def test_a_bad_series_is_reported_by_summary_and_uid_and_the_others_import(
    engine: Engine, load: Importer
) -> None:
    result = load(city_calendar(), IMPORTED)
    assert result.skipped == [
        {"uid": "paper", "summary": "古紙・古布", "reason": "RRULE: Wrong date format 20240931"}
    ]
    with Session(engine) as session:
        kinds = {kind for day in session.exec(select(CollectionDay)).all() for kind in day.kinds}
    assert kinds == {"burnable", "non_burnable", "pet_bottles", "bottles", "cans", "plastic",
                     "oversized"}


def test_strict_refuses_the_file_naming_the_series_and_writes_nothing(
    engine: Engine, load: Importer
) -> None:
    with pytest.raises(CalendarError) as caught:
        load(city_calendar(), IMPORTED, strict=True)
    assert "--strict" in str(caught.value) and "古紙・古布 (UID paper)" in str(caught.value)
    with Session(engine) as session:
        assert session.exec(select(CollectionDay)).all() == []


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("UID:nodate\nSUMMARY:燃やすごみ", "no DTSTART"),
        (
            "UID:nodate\nSUMMARY:燃やすごみ\nDTSTART;VALUE=DATE:20260931",
            "DTSTART: Wrong date format",
        ),
        ("UID:nodate\nSUMMARY:燃やすごみ\nDTSTART:20260406T080000\nRRULE:FREQ=HOURLY",
         "FREQ=HOURLY repeats within a day"),
        ("UID:nodate\nSUMMARY:燃やすごみ\nDTSTART:20260406T080000\nRRULE:FREQ=MINUTELY",
         "FREQ=MINUTELY"),
        ("UID:nodate\nSUMMARY:燃やすごみ\nDTSTART:20260406T080000\nRRULE:FREQ=SECONDLY",
         "FREQ=SECONDLY"),
    ],
)
def test_events_without_usable_dates_are_left_out_with_the_reason(
    settings: Settings, event: str, reason: str
) -> None:
    parsed = read(settings, vcal(allday("ok", "20260406", "資源ごみ"), event))
    [skipped] = parsed.skipped  # type: ignore[attr-defined]
    assert skipped.uid == "nodate" and reason in skipped.reason
    assert sorted(parsed.zone_days("A")) == [date(2026, 4, 6)]  # type: ignore[attr-defined]


def test_events_without_uid_are_each_their_own_series(settings: Settings) -> None:
    data = vcal("SUMMARY:燃やすごみ\nDTSTART;VALUE=DATE:20260406",
                "SUMMARY:資源ごみ\nDTSTART;VALUE=DATE:20260931",
                "SUMMARY:びん\nDTSTART;VALUE=DATE:20260408")
    parsed = read(settings, data)
    assert [s.summary for s in parsed.skipped] == ["資源ごみ"]  # type: ignore[attr-defined]
    assert sorted(parsed.zone_days("A")) == [  # type: ignore[attr-defined]
        date(2026, 4, 6), date(2026, 4, 8)]


def test_a_series_with_too_many_occurrences_is_left_out(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, **{"garbage.max_occurrences_per_event": 5})
    data = vcal(allday("daily", "20260401", "燃やすごみ", "RRULE:FREQ=DAILY"),
                allday("ok", "20260406", "資源ごみ"))
    parsed = read(settings, data, max_occurrences=settings.garbage.max_occurrences_per_event)
    [skipped] = parsed.skipped  # type: ignore[attr-defined]
    assert skipped.uid == "daily" and "more than 5 occurrences" in skipped.reason


def test_a_broken_dtend_is_ignored_and_the_warning_says_the_event_was_imported(
    settings: Settings,
) -> None:
    parsed = read(settings, vcal(allday("e", "20260406", "びん", "DTEND;VALUE=DATE:2026O407")))
    assert sorted(parsed.zone_days("A")) == [date(2026, 4, 6)]  # type: ignore[attr-defined]
    [warning] = parsed.warnings  # type: ignore[attr-defined]
    assert "DTEND ignored, the event imported" in warning and "UID e" in warning


def test_a_refusal_keeps_the_parsers_warnings(settings: Settings) -> None:
    with pytest.raises(CalendarError) as caught:
        read(settings, vcal(allday("d", "20260931", "燃やすごみ")))
    assert str(caught.value).startswith("no collection days for zone A")
    assert "DTSTART: Wrong date format 20260931" in str(caught.value)
    assert caught.value.warnings == ["燃やすごみ (UID d): DTSTART: Wrong date format 20260931; "
                                     "not imported"]


def test_a_truncated_file_is_reported_as_cut_short(settings: Settings) -> None:
    whole = vcal(allday("a", "20260406", "燃やすごみ"), allday("b", "20260407", "資源ごみ"))
    with pytest.raises(CalendarError, match="cut short: BEGIN:VCALENDAR has no END:VCALENDAR"):
        read(settings, whole[: len(whole) // 2])
    with pytest.raises(CalendarError, match="no BEGIN:VCALENDAR"):
        read(settings, "SUMMARY:燃やすごみ\r\n".encode())


LINES = st.sampled_from([
    "BEGIN:VCALENDAR", "END:VCALENDAR", "BEGIN:VEVENT", "END:VEVENT", "VERSION:2.0",
    "UID:x", "UID:y", "SUMMARY:燃やすごみ（要予約）", "SUMMARY:", "DTSTART;VALUE=DATE:20260406",
    "DTSTART;VALUE=DATE:20260931", "DTSTART:20260406T083000Z", "DTSTART;TZID=Nowhere:20260406T0830",
    "DTSTART:garbage", "RRULE:FREQ=WEEKLY;BYDAY=MO", "RRULE:FREQ=MONTHLY;UNTIL=20240931",
    "RRULE:FREQ=YEARLY;BYMONTH=13", "RRULE:BYDAY=MO", "RRULE:FREQ=DAILY;COUNT=-1",
    "EXDATE:20260413", "EXDATE;VALUE=DATE:2026041", "RDATE;VALUE=PERIOD:20260406/20260405",
    "RECURRENCE-ID;VALUE=DATE:20260413", "RECURRENCE-ID:nope", "DTEND;VALUE=DATE:20260405",
    "DURATION:P-1D", "BEGIN:VTIMEZONE", "END:VTIMEZONE", "TZID:Asia/Tokyo",
    "X-WR-TIMEZONE:Mars/Base",
    "CATEGORIES:A地区", " continued", "", "\x00", "BEGIN:VALARM", "TRIGGER:-PT1H", "END:VALARM",
])


@hypothesis_settings(max_examples=120, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(LINES, max_size=30))
def test_no_input_crashes_the_reader(settings: Settings, lines: list[str]) -> None:
    data = "\r\n".join(["BEGIN:VCALENDAR", *lines, "END:VCALENDAR"]).encode()
    try:
        read(settings, data)
    except CalendarError as exc:
        assert "\n" not in str(exc)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {"BROADCASTER_CONFIG": str(REPO / "config.toml"),
                   "BROADCASTER_DATA_DIR": str(tmp_path)}
    assert CliRunner().invoke(app, ["db", "upgrade"], env=environment).exit_code == 0
    return environment


def test_cli_imports_the_good_series_and_prints_the_bad_one(env: dict[str, str],
                                                           tmp_path: Path) -> None:
    file = tmp_path / "city.ics"
    file.write_bytes(city_calendar("UID:nodate\nSUMMARY:びん"))
    result = CliRunner().invoke(app, ["calendar", "import", str(file), "--zone", "A"], env=env)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "not imported 古紙・古布 (UID paper): RRULE: Wrong date format 20240931" in result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert [item["uid"] for item in report["skipped"]] == ["paper", "nodate"]


def test_cli_refusal_is_one_line_and_recorded_with_warnings(env: dict[str, str],
                                                            tmp_path: Path) -> None:
    file = tmp_path / "bad.ics"
    file.write_bytes(vcal(allday("d", "20990931", "燃やすごみ")))
    result = CliRunner().invoke(app, ["calendar", "import", str(file), "--zone", "A"], env=env)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "refused: no collection days" in result.output and "20990931" in result.output
    with Session(make_engine(f"sqlite:///{tmp_path / 'broadcaster.db'}")) as session:
        [row] = session.exec(select(CalendarImport)).all()
    assert not row.ok and row.report["warnings"][0].startswith("燃やすごみ (UID d): DTSTART")


def test_api_reports_a_bad_series_and_refuses_with_the_reason(
    app_client: TestClient, tokens: dict[str, str]
) -> None:
    today = date.today()
    good = allday("g", f"{today:%Y%m%d}", "燃やすごみ", "RRULE:FREQ=WEEKLY;COUNT=5")
    response = app_client.post(
        "/api/v1/calendars/A", headers=auth(tokens["環境課"]),
        files={"file": ("c.ics", vcal(good, "UID:nodate\nSUMMARY:びん"), "text/calendar")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["skipped"] == [
        {"uid": "nodate", "summary": "びん", "reason": "no DTSTART: the event has no date"}
    ]
    refused = app_client.post(
        "/api/v1/calendars/A", headers=auth(tokens["環境課"]),
        files={"file": ("c.ics", vcal("UID:nodate\nSUMMARY:びん"), "text/calendar")},
    )
    assert refused.status_code == 422
    assert "no DTSTART" in json.dumps(refused.json(), ensure_ascii=False)


def test_a_google_style_export_gives_the_days_the_library_expands(
    engine: Engine, load: Importer, settings: Settings
) -> None:
    """The synthetic export of the benchmark, small: every (zone, date) the library's own
    expansion yields in the window is a collection day, and no other."""
    import icalendar
    import recurring_ical_events

    from broadcaster.garbage.importer import window
    from tests.garbage.synthetic import google_export

    start, end = window(settings, IMPORTED)
    data = google_export(60_000, start)
    load(data, IMPORTED, zone=None)
    events = recurring_ical_events.of(icalendar.Calendar.from_ical(data)).between(start, end)
    aliases = settings.garbage.zone_aliases
    expected = {
        (aliases[str(event["CATEGORIES"].cats[0])], event.decoded("DTSTART")) for event in events
    }
    with Session(engine) as session:
        found = {(day.zone, day.date) for day in session.exec(select(CollectionDay)).all()}
    assert found == expected and len(found) > 100
