"""The garbage calendar pages: preview (the importer's dry run), apply, a refused file, and
cancel/move with corrections for residents already reminded. Dates are relative to today
(Asia/Tokyo): an import only replaces days from today on."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from broadcaster.broadcasts import Broadcast
from broadcaster.clock import utcnow
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.garbage.models import CalendarImport, CollectionDay
from broadcaster.garbage.reminders import schedule_reminders
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from tests.conftest import ResidentFactory
from tests.console.signing import sign_in
from tests.garbage.conftest import allday, vcal

TOKYO = ZoneInfo("Asia/Tokyo")


def _today() -> date:
    return utcnow().astimezone(TOKYO).date()


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def _upload(
    client: TestClient, csrf: str, data: bytes, zone: str = "A", name: str = "a.ics"
) -> object:
    return client.post(
        "/console/garbage/preview",
        data={"csrf_token": csrf, "zone": zone, "format": "ical"},
        files={"file": (name, data, "text/calendar")},
    )


def _apply(client: TestClient, page: str) -> object:
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page))
    return client.post("/console/garbage/apply", data=fields, follow_redirects=False)


def _days(engine: Engine) -> list[tuple[date, list[str], str]]:
    with Session(engine) as session:
        rows = session.exec(select(CollectionDay).order_by(CollectionDay.date)).all()
        return [(r.date, r.kinds, r.status) for r in rows]


def _imports(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(CalendarImport)).one())


def test_an_upload_is_previewed_then_applied(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kankyo")
    today = _today()
    first, second = today + timedelta(days=3), today + timedelta(days=5)
    calendar = vcal(allday("b", _ymd(first), "燃やすごみ"), allday("r", _ymd(second), "資源ごみ"))
    preview = _upload(app_client, csrf, calendar)
    assert preview.status_code == 200, preview.text  # type: ignore[attr-defined]
    page = preview.text  # type: ignore[attr-defined]
    assert "まだ反映していません" in page and "追加される日（2）" in page
    assert _days(engine) == [] and _imports(engine) == 0  # a preview writes nothing

    applied = _apply(app_client, page)
    assert applied.status_code == 303  # type: ignore[attr-defined]
    assert [d for d, _, _ in _days(engine)] == [first, second]
    overview = app_client.get(applied.headers["location"]).text  # type: ignore[attr-defined]
    assert "カレンダーを反映しました" in overview and "中止・変更" in overview

    # The next file moves the burnable day by one, and has a summary nobody mapped.
    moved = first + timedelta(days=1)
    again = vcal(
        allday("b", _ymd(moved), "燃やすごみ"),
        allday("r", _ymd(second), "資源ごみ"),
        allday("x", _ymd(second + timedelta(days=1)), "謎の品目"),
    )
    page = _upload(app_client, csrf, again).text  # type: ignore[attr-defined]
    assert "移動する日（1）" in page and "分類できない品目" in page and "謎の品目" in page
    assert [d for d, _, _ in _days(engine)] == [first, second]  # still the old calendar


def test_a_malformed_file_is_refused_in_japanese_next_to_the_file_field(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kankyo")
    answer = _upload(app_client, csrf, b"this is not a calendar", name="notes.txt")
    assert answer.status_code == 422  # type: ignore[attr-defined]
    page = answer.text  # type: ignore[attr-defined]
    message = "このファイルは読み取れませんでした"
    assert message in page
    # The message is next to the file field, which points at it.
    assert re.search(r'id="err-f-file">' + message, page)
    # Then why, in Japanese from the catalog (the English stays under 技術的な理由).
    why = "iCal ファイルではありません（BEGIN:VCALENDAR で始まるカレンダーが見つかりません）。"
    assert why in page
    assert re.search(r'id="f-file"[^>]*aria-invalid="true"[^>]*aria-describedby="err-f-file"', page)
    assert _days(engine) == [] and _imports(engine) == 0  # nothing changed, nothing recorded
    # A file over the JSON bodies' 1 MB but within the calendar limit reaches the page.
    large = _upload(app_client, csrf, b"x" * 1_500_000, name="large.ics")
    assert large.status_code == 422 and message in large.text  # type: ignore[attr-defined]
    empty = app_client.post(
        "/console/garbage/preview", data={"csrf_token": csrf, "zone": "A", "format": "ical"}
    )
    assert empty.status_code == 422 and "取り込むファイルを選んでください" in empty.text


def test_only_the_garbage_department_and_admins_open_the_calendar(
    app_client: TestClient, staff: dict[str, str]
) -> None:
    sign_in(app_client, "kosodate")
    assert app_client.get("/console/garbage").status_code == 403
    # Nor is it in another department's menu, which would only lead to that 403 page.
    assert 'href="/console/garbage"' not in app_client.get("/console/broadcasts").text


def test_an_admin_opens_the_calendar(app_client: TestClient, staff: dict[str, str]) -> None:
    sign_in(app_client, "admin")
    assert app_client.get("/console/garbage").status_code == 200
    assert 'href="/console/garbage"' in app_client.get("/console/broadcasts").text


def test_cancelling_a_reminded_day_corrects_and_a_bad_reason_changes_nothing(
    app_client: TestClient,
    engine: Engine,
    settings: Settings,
    staff: dict[str, str],
    make_resident: ResidentFactory,
) -> None:
    csrf = sign_in(app_client, "kankyo")
    day = _today() + timedelta(days=2)
    applied = _apply(
        app_client,
        _upload(app_client, csrf, vcal(allday("b", _ymd(day), "燃やすごみ"))).text,  # type: ignore[attr-defined]
    )
    assert applied.status_code == 303  # type: ignore[attr-defined]
    resident = make_resident(reminder_timing="eve")
    eve = datetime.combine(day - timedelta(days=1), time(18, 0), TOKYO)
    renderer = Renderer.from_settings(settings)
    [reminder_id] = schedule_reminders(engine, settings, renderer, eve).created
    with Session(engine) as session:
        reminder = session.get(Broadcast, reminder_id)
        assert reminder is not None
        reminder.status = "sent"
        session.add(reminder)
        session.add(
            Delivery(
                broadcast_id=reminder_id,
                resident_id=resident.id,
                status=DeliveryStatus.accepted,
            )
        )
        session.commit()
    url = f"/console/garbage/A/{day.isoformat()}"
    page = app_client.get(url).text
    assert "すでに送られています" in page

    refused = app_client.post(f"{url}/cancel", data={"csrf_token": csrf, "reason": ""})
    assert refused.status_code == 422 and "理由を入力してください" in refused.text
    assert [s for _, _, s in _days(engine)] == ["scheduled"]  # nothing changed

    done = app_client.post(
        f"{url}/cancel", data={"csrf_token": csrf, "reason": "台風のため"}, follow_redirects=False
    )
    assert done.status_code == 303
    page = app_client.get(done.headers["location"]).text
    assert "中止しました" in page and "訂正（1件）" in page
    with Session(engine) as session:
        correction = session.exec(
            select(Broadcast).where(Broadcast.recipients_of == reminder_id)
        ).one()
        assert correction.template_name == "garbage_correction"
        assert correction.parameters["reason"] == "台風のため"
    assert _days(engine)[0][2] == "cancelled"


def test_moving_a_day_to_the_past_is_refused_in_japanese(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kankyo")
    day = _today() + timedelta(days=2)
    _apply(
        app_client,
        _upload(app_client, csrf, vcal(allday("b", _ymd(day), "燃やすごみ"))).text,  # type: ignore[attr-defined]
    )
    url = f"/console/garbage/A/{day.isoformat()}"
    past = (_today() - timedelta(days=3)).isoformat()
    refused = app_client.post(f"{url}/move", data={"csrf_token": csrf, "to": past, "reason": "x"})
    assert refused.status_code == 422 and "この収集日は変更できません" in refused.text
    assert [s for _, _, s in _days(engine)] == ["scheduled"]
    later = (day + timedelta(days=1)).isoformat()
    moved = app_client.post(
        f"{url}/move",
        data={"csrf_token": csrf, "to": later, "reason": "年末年始のため"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert [s for _, _, s in _days(engine)] == ["cancelled", "scheduled"]


def test_a_5374_csv_is_previewed_like_an_ical_file(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kankyo")
    area_days = "地名,センター,燃やすごみ,資源ごみ\nA地区,,月 木,土9\n".encode()
    preview = app_client.post(
        "/console/garbage/preview",
        data={"csrf_token": csrf, "zone": "", "format": "5374"},
        files={"file": ("area_days.csv", area_days, "text/csv")},
    )
    assert preview.status_code == 200, preview.text
    assert "A地区の変更" in preview.text and "追加される日" in preview.text
    assert _days(engine) == []
    applied = _apply(app_client, preview.text)
    assert applied.status_code == 303  # type: ignore[attr-defined]
    assert {s for _, _, s in _days(engine)} == {"scheduled"}
