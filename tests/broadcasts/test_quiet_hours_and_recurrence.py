"""Pure time rules: quiet hours crossing midnight, and the recurrence syntax."""

from __future__ import annotations

from datetime import time

import pytest

from broadcaster.quiet_hours import in_quiet_hours, next_allowed, refusal
from broadcaster.recurrence import RecurrenceError, next_time, parse_recurrence
from broadcaster.settings import QuietHoursSettings
from tests.broadcasts.conftest import TOKYO, jst

DEFAULT = QuietHoursSettings()


@pytest.mark.parametrize(
    ("at", "quiet"),
    [
        (jst(2026, 5, 1, 20, 59), False),
        (jst(2026, 5, 1, 21, 0), True),
        (jst(2026, 5, 1, 23, 30), True),
        (jst(2026, 5, 2, 0, 30), True),
        (jst(2026, 5, 2, 6, 59), True),
        (jst(2026, 5, 2, 7, 0), False),
        (jst(2026, 5, 2, 12, 0), False),
    ],
)
def test_quiet_hours_cross_midnight_in_tokyo(at, quiet):
    assert in_quiet_hours(at, DEFAULT, TOKYO) is quiet


def test_quiet_hours_are_judged_in_tokyo_not_utc():
    # 13:00 UTC is 22:00 in Tokyo.
    from datetime import UTC, datetime

    assert in_quiet_hours(datetime(2026, 5, 1, 13, tzinfo=UTC), DEFAULT, TOKYO)
    assert not in_quiet_hours(datetime(2026, 5, 1, 22, tzinfo=UTC), DEFAULT, TOKYO)


def test_next_allowed_time_is_the_end_of_the_window():
    assert next_allowed(jst(2026, 5, 1, 22, 30), DEFAULT, TOKYO) == jst(2026, 5, 2, 7)
    assert next_allowed(jst(2026, 5, 2, 3), DEFAULT, TOKYO) == jst(2026, 5, 2, 7)
    assert next_allowed(jst(2026, 5, 2, 9), DEFAULT, TOKYO) == jst(2026, 5, 2, 9)


def test_refusal_names_the_next_allowed_time():
    message = refusal(jst(2026, 5, 1, 22, 30), DEFAULT, TOKYO)
    assert message == (
        "send_at 2026-05-01 22:30 JST falls in quiet hours 21:00–07:00; "
        "next allowed time 2026-05-02 07:00 JST"
    )


def test_a_daytime_window_and_a_disabled_one():
    lunch = QuietHoursSettings(start=time(12), end=time(13))
    assert in_quiet_hours(jst(2026, 5, 1, 12, 30), lunch, TOKYO)
    assert not in_quiet_hours(jst(2026, 5, 1, 13, 0), lunch, TOKYO)
    assert not in_quiet_hours(jst(2026, 5, 1, 23), QuietHoursSettings(enabled=False), TOKYO)


def test_first_monday_of_the_month_at_nine():
    assert next_time("0 9 * * mon#1", jst(2026, 5, 4, 9), TOKYO) == jst(2026, 6, 1, 9)
    assert next_time("0 9 * * mon#1", jst(2026, 5, 1, 0), TOKYO) == jst(2026, 5, 4, 9)


def test_last_friday_and_weekdays():
    assert next_time("0 17 * * fri#L", jst(2026, 5, 1), TOKYO) == jst(2026, 5, 29, 17)
    assert next_time("30 7 * * mon-fri", jst(2026, 5, 2, 8), TOKYO) == jst(2026, 5, 4, 7, 30)


def test_day_of_week_numbers_follow_cron_zero_is_sunday():
    # 2026-05-03 is a Sunday; APScheduler alone would read 0 as Monday.
    assert next_time("0 9 * * 0", jst(2026, 5, 1), TOKYO) == jst(2026, 5, 3, 9)
    assert next_time("0 9 * * 7", jst(2026, 5, 1), TOKYO) == jst(2026, 5, 3, 9)
    assert next_time("0 9 * * 1", jst(2026, 5, 1), TOKYO) == jst(2026, 5, 4, 9)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 9 * *", "needs 5 fields"),
        ("0 25 * * *", "recurrence"),
        ("0 9 * * funday", "day_of_week"),
        ("0 9 1 * mon#1", "day must be *"),
        ("0 9 * * mon#9", "day_of_week"),
    ],
)
def test_bad_recurrences_are_named(expression, words):
    with pytest.raises(RecurrenceError, match=words):
        parse_recurrence(expression, TOKYO)
