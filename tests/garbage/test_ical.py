"""Reading iCal into collection days: every feature real garbage calendars use."""

from __future__ import annotations

from datetime import date

import pytest

from broadcaster.garbage.ical import CalendarError, ParsedCalendar, read_days
from broadcaster.garbage.kinds import kind_table
from broadcaster.settings import Settings
from tests.garbage.conftest import TOKYO_VTIMEZONE, allday, vcal


def read(
    settings: Settings, data: bytes, start: date, end: date, zone: str | None = "A"
) -> ParsedCalendar:
    return read_days(
        data,
        start=start,
        end=end,
        tz=settings.tz,
        table=kind_table(settings),
        zones=settings.residents.zones,
        zone_aliases=settings.garbage.zone_aliases,
        zone=zone,
    )


def dates(parsed: ParsedCalendar, zone: str = "A") -> list[date]:
    return sorted(parsed.zone_days(zone))


WEEKLY = allday(
    "burn",
    "20261228",
    "燃やすごみ",
    "RRULE:FREQ=WEEKLY;BYDAY=MO,TH",
    "EXDATE;VALUE=DATE:20261231,20270101",
    "EXDATE:20270104T000000",  # hand-edited: no VALUE=DATE
)


def test_weekly_rule_skips_year_end_exdates(settings: Settings) -> None:
    parsed = read(settings, vcal(WEEKLY), date(2026, 12, 25), date(2027, 1, 12))
    assert dates(parsed) == [date(2026, 12, 28), date(2027, 1, 7), date(2027, 1, 11)]
    assert parsed.zone_days("A")[date(2027, 1, 7)].kinds == {"burnable"}


def test_rdate_adds_an_extra_day_and_recurrence_id_moves_one(settings: Settings) -> None:
    series = WEEKLY + "\nRDATE;VALUE=DATE:20261230"
    moved = allday("burn", "20270109", "燃やすごみ", "RECURRENCE-ID;VALUE=DATE:20270107")
    parsed = read(settings, vcal(series, moved), date(2026, 12, 25), date(2027, 1, 12))
    assert dates(parsed) == [
        date(2026, 12, 28),
        date(2026, 12, 30),
        date(2027, 1, 9),
        date(2027, 1, 11),
    ]


def test_timed_events_land_on_the_tokyo_date(settings: Settings) -> None:
    at_eight = (
        "UID:t1\nSUMMARY:資源ごみ\n"
        "DTSTART;TZID=Asia/Tokyo:20260601T080000\nDTEND;TZID=Asia/Tokyo:20260601T083000"
    )
    # 2026-06-01 23:30 UTC is 2026-06-02 08:30 in Tokyo.
    utc_late = "UID:t2\nSUMMARY:ペットボトル\nDTSTART:20260601T233000Z"
    parsed = read(
        settings,
        vcal(at_eight, utc_late, header=TOKYO_VTIMEZONE),
        date(2026, 5, 30),
        date(2026, 6, 5),
    )
    days = parsed.zone_days("A")
    assert days[date(2026, 6, 1)].kinds == {"recyclable"}
    assert days[date(2026, 6, 2)].kinds == {"pet_bottles"}


def test_x_wr_timezone_and_nth_weekday_series(settings: Settings) -> None:
    series = (
        "UID:n\nSUMMARY:燃やさないごみ\nDTSTART:20260408T080000\n"
        "RRULE:FREQ=MONTHLY;BYDAY=2WE,4WE;COUNT=4"
    )
    parsed = read(
        settings,
        vcal(series, header="X-WR-TIMEZONE:Asia/Tokyo"),
        date(2026, 4, 1),
        date(2026, 6, 1),
    )
    assert dates(parsed) == [
        date(2026, 4, 8),
        date(2026, 4, 22),
        date(2026, 5, 13),
        date(2026, 5, 27),
    ]


def test_multi_year_file_is_cut_to_the_window(settings: Settings) -> None:
    series = allday("y", "20250106", "古紙", "RRULE:FREQ=MONTHLY;BYMONTHDAY=6;UNTIL=20281231")
    parsed = read(settings, vcal(series), date(2026, 4, 1), date(2027, 5, 6))
    assert dates(parsed)[0] == date(2026, 4, 6)
    assert dates(parsed)[-1] == date(2027, 4, 6)
    assert len(dates(parsed)) == 13


def test_several_kinds_in_one_summary_and_two_events_one_day(settings: Settings) -> None:
    parsed = read(
        settings,
        vcal(
            allday("r", "20260407", "資源ごみ、びん・缶、ペットボトル"),
            allday("b", "20260407", "燃えるごみの収集日"),
        ),
        date(2026, 4, 1),
        date(2026, 4, 30),
    )
    assert parsed.zone_days("A")[date(2026, 4, 7)].kinds == {
        "recyclable",
        "bottles",
        "cans",
        "pet_bottles",
        "burnable",
    }


def test_unmapped_summary_is_kept_and_reported_with_dates(settings: Settings) -> None:
    parsed = read(
        settings,
        vcal(
            allday("x", "20260407", "せん定枝", "RRULE:FREQ=WEEKLY;COUNT=2"),
        ),
        date(2026, 4, 1),
        date(2026, 4, 30),
    )
    assert parsed.zone_days("A")[date(2026, 4, 7)].unmapped == ["せん定枝"]
    assert parsed.unmapped == {("A", "せん定枝"): [date(2026, 4, 7), date(2026, 4, 14)]}


def test_multi_zone_file_names_zones_by_x_zone_categories_or_location(settings: Settings) -> None:
    data = vcal(
        allday("a", "20260406", "燃やすごみ", "X-ZONE:A地区"),
        allday("b", "20260407", "燃やすごみ", "CATEGORIES:ごみ,B"),
        allday("c", "20260408", "資源ごみ", "LOCATION:C地区"),
    )
    parsed = read(settings, data, date(2026, 4, 1), date(2026, 4, 30), zone=None)
    assert {zone: dates(parsed, zone) for zone in parsed.days} == {
        "A": [date(2026, 4, 6)],
        "B": [date(2026, 4, 7)],
        "C": [date(2026, 4, 8)],
    }
    # With --zone, only that zone's events (and untagged ones) are read.
    assert dates(read(settings, data, date(2026, 4, 1), date(2026, 4, 30), zone="B"), "B") == [
        date(2026, 4, 7)
    ]


def test_event_without_a_zone_in_a_multi_zone_import_is_refused(settings: Settings) -> None:
    with pytest.raises(CalendarError, match="name no known zone"):
        read(
            settings,
            vcal(allday("a", "20260406", "燃やすごみ", "X-ZONE:Z地区")),
            date(2026, 4, 1),
            date(2026, 5, 1),
            zone=None,
        )


def test_hand_edited_file_with_bom_blank_lines_junk_and_a_bad_date(settings: Settings) -> None:
    data = vcal(
        allday("ok", "20260406", "可燃ごみ"),
        "UID:bad\nSUMMARY:不燃ごみ\nDTSTART;VALUE=DATE:20260931",
    ).replace(b"BEGIN:VEVENT", b"\r\nBEGIN:VEVENT")
    data = b"\xef\xbb\xbf" + data + b"this is not iCal\r\n"
    parsed = read(settings, data, date(2026, 4, 1), date(2026, 12, 1))
    assert dates(parsed) == [date(2026, 4, 6)]
    [skipped] = parsed.skipped
    assert (skipped.uid, skipped.summary) == ("bad", "不燃ごみ")
    assert "DTSTART" in skipped.reason and "20260931" in skipped.reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x89PNG\r\n\x1a\nnot a calendar", "not an iCal file"),
        (b"BEGIN:VCALENDAR\r\nthis line is broken\r\nEND:VCALENDAR\r\n", "not a valid iCal file"),
        (vcal(), "no collection days"),
        (vcal(allday("old", "20200106", "燃やすごみ")), "no collection days"),
    ],
)
def test_unusable_files_are_refused_with_one_line(
    settings: Settings, data: bytes, reason: str
) -> None:
    with pytest.raises(CalendarError, match=reason) as caught:
        read(settings, data, date(2026, 4, 1), date(2027, 4, 1))
    assert "\n" not in str(caught.value)
