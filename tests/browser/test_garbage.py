"""Job 8 in the browser: 環境課 (kankyo) uploads a zone's calendar, sees the diff, applies it,
has a malformed file refused next to the file field, and cancels a day with a reason."""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import Session, func, select

from broadcaster.clock import utcnow
from broadcaster.garbage.models import CalendarImport, CollectionDay
from tests.browser.conftest import SignIn, Town, check_accessibility, screenshot
from tests.garbage.conftest import allday, vcal

WORDS = ("ごみ収集", "収集日", "カレンダー", "リマインダー")
# Each window width works on its own zones, so the two runs do not see each other's days.
ZONES = {1280: ("A", "B"), 768: ("C", "D")}


def _today() -> date:
    return utcnow().astimezone(ZoneInfo("Asia/Tokyo")).date()


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def _days(town: Town, zone: str) -> list[tuple[date, str]]:
    with Session(town.engine) as session:
        rows = session.exec(
            select(CollectionDay).where(CollectionDay.zone == zone).order_by(CollectionDay.date)
        ).all()
        return [(r.date, r.status) for r in rows]


def _imports(town: Town) -> int:
    with Session(town.engine) as session:
        return int(session.exec(select(func.count()).select_from(CalendarImport)).one())


@pytest.mark.parametrize("width", [1280, 768])
def test_kankyo_previews_applies_and_cancels_a_day(
    town: Town, signed_in: SignIn, width: int
) -> None:
    upload_zone, seeded_zone = ZONES[width]
    today = _today()
    # The other zone's calendar comes in through the API, as a fetch or a script would.
    seeded_day = today + timedelta(days=2)
    with httpx.Client(base_url=town.url, timeout=30) as api:
        answer = api.post(
            f"/api/v1/calendars/{seeded_zone}",
            files={"file": ("b.ics", vcal(allday("s", _ymd(seeded_day), "燃やすごみ")))},
            headers={"Authorization": f"Bearer {town.tokens['環境課']}"},
        )
        assert answer.status_code == 200, answer.text

    page = signed_in("kankyo", width=width)
    page.goto("/console/garbage")
    assert page.title().startswith("ごみ収集カレンダー")
    check_accessibility(page, words=WORDS)
    screenshot(page, "garbage-overview")

    # A malformed file: refused in Japanese next to the file field; nothing changes.
    before = (_imports(town), _days(town, upload_zone))
    page.select_option("#f-zone", upload_zone)
    page.set_input_files(
        "#f-file", files=[{"name": "memo.ics", "mimeType": "text/calendar", "buffer": b"oops"}]
    )
    page.get_by_role("button", name="変わる内容を確認する").click()
    page.wait_for_selector("#err-f-file")
    assert "このファイルは読み取れませんでした" in page.inner_text("#err-f-file")
    assert page.get_attribute("#f-file", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "error-summary"
    check_accessibility(page, words=WORDS)
    screenshot(page, "garbage-refused")
    assert (_imports(town), _days(town, upload_zone)) == before

    # A good file: the diff first, nothing written; then applied.
    first, second = today + timedelta(days=3), today + timedelta(days=6)
    calendar = vcal(
        allday("b", _ymd(first), "燃やすごみ"),
        allday("r", _ymd(second), "資源ごみ"),
        allday("x", _ymd(second), "せん定枝"),
    )
    page.select_option("#f-zone", upload_zone)
    page.set_input_files(
        "#f-file", files=[{"name": "zone.ics", "mimeType": "text/calendar", "buffer": calendar}]
    )
    page.get_by_role("button", name="変わる内容を確認する").click()
    page.wait_for_url(re.compile(r"/console/garbage/preview$"))
    assert "追加される日（2）" in page.inner_text("main")
    assert "せん定枝" in page.inner_text("main")  # the unmapped summary is shown
    check_accessibility(page, words=WORDS)
    screenshot(page, "garbage-preview")
    assert _days(town, upload_zone) == before[1]
    page.get_by_role("button", name="この内容で反映する").click()
    page.wait_for_selector("text=カレンダーを反映しました")
    assert [d for d, _ in _days(town, upload_zone)] == [first, second]
    screenshot(page, "garbage-applied")

    # Cancel the seeded zone's day with a reason.
    page.goto(f"/console/garbage?zone={seeded_zone}")
    page.get_by_role("link", name=re.compile("の収集を中止・変更")).first.click()
    page.wait_for_url(re.compile(rf"/console/garbage/{seeded_zone}/{seeded_day.isoformat()}$"))
    check_accessibility(page, words=WORDS)
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_label("理由（住民に届きます）").first.fill("台風のため")
    page.get_by_role("button", name="中止する").click()
    page.wait_for_selector("text=中止しました")
    assert "台風のため" in page.inner_text("dl.facts")
    screenshot(page, "garbage-cancelled")
    assert _days(town, seeded_zone) == [(seeded_day, "cancelled")]
