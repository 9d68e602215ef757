"""A synthetic Google Calendar export of a city's garbage calendar, as large as wanted.

Written from the published format (RFC 5545 as Google exports it: X-WR-TIMEZONE, a
VTIMEZONE, all-day events with DTEND, DTSTAMP, CREATED, LAST-MODIFIED, SEQUENCE, STATUS,
TRANSP and a DESCRIPTION), not copied from any real file. Most events are single days (a
converted PDF calendar), with weekly and monthly RRULE series carrying EXDATEs for the
year-end break and RECURRENCE-ID overrides for moved days, in four zones (CATEGORIES).
"""

from __future__ import annotations

import random
from datetime import date, timedelta

ZONES = ("A地区", "B地区", "C地区", "D地区")
SUMMARIES = (
    "燃やすごみ", "燃やさないごみ", "資源ごみ（びん・缶）", "ペットボトル類", "プラ",
    "古紙・古布", "粗大ごみ（要予約）", "有害ごみ ※乾電池・蛍光管", "雑がみ", "小型家電",
)
DESCRIPTION = (
    "朝8時30分までに決められた集積所に出してください。\\n"
    "収集日程は変更になることがあります。市のホームページでご確認ください。"
)
HEADER = """BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:PUBLISH
X-WR-CALNAME:ごみ収集カレンダー
X-WR-TIMEZONE:Asia/Tokyo
BEGIN:VTIMEZONE
TZID:Asia/Tokyo
X-LIC-LOCATION:Asia/Tokyo
BEGIN:STANDARD
TZOFFSETFROM:+0900
TZOFFSETTO:+0900
TZNAME:JST
DTSTART:19700101T000000
END:STANDARD
END:VTIMEZONE"""


def _event(uid: str, day: date, summary: str, zone: str, *extra: str) -> list[str]:
    return [
        "BEGIN:VEVENT",
        f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
        f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}",
        *extra,
        "DTSTAMP:20260301T000000Z",
        f"UID:{uid}@google.com",
        "CREATED:20260201T010203Z",
        f"DESCRIPTION:{DESCRIPTION}",
        "LAST-MODIFIED:20260215T040506Z",
        f"CATEGORIES:{zone}",
        "SEQUENCE:0",
        "STATUS:CONFIRMED",
        f"SUMMARY:{summary}",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
    ]


def google_export(target_bytes: int, start: date, seed: int = 16) -> bytes:
    """An export of about `target_bytes` with days from `start` on (CRLF, folded lines are
    not needed: every line is short enough)."""
    rng = random.Random(seed)
    lines = HEADER.splitlines()
    # Series first: per zone a weekly 燃やすごみ (year-end EXDATEs, one moved day) and a
    # monthly 2nd/4th-Wednesday 燃やさないごみ.
    for index, zone in enumerate(ZONES):
        monday = start + timedelta(days=(-start.weekday()) % 7 + index)
        year_end = date(monday.year, 12, 31)
        exdates = ",".join(f"{year_end + timedelta(days=n):%Y%m%d}" for n in range(4))
        lines += _event(f"burn-{index}", monday, "燃やすごみ", zone,
                        "RRULE:FREQ=WEEKLY;BYDAY=MO,TH;COUNT=120",
                        f"EXDATE;VALUE=DATE:{exdates}")
        moved_from = monday + timedelta(days=21)
        lines += _event(f"burn-{index}", moved_from + timedelta(days=1), "燃やすごみ", zone,
                        f"RECURRENCE-ID;VALUE=DATE:{moved_from:%Y%m%d}")
        lines += _event(f"nonburn-{index}", monday + timedelta(days=2), "燃やさないごみ", zone,
                        "RRULE:FREQ=MONTHLY;BYDAY=2WE,4WE;UNTIL=20281231")
    number = 0
    size = sum(len(line) + 2 for line in lines)
    while size < target_bytes:
        zone = ZONES[number % len(ZONES)]
        day = start + timedelta(days=rng.randrange(0, 380))
        event = _event(f"single-{number}", day, rng.choice(SUMMARIES), zone)
        lines += event
        size += sum(len(line.encode()) + 2 for line in event)
        number += 1
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()
