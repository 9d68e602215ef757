"""Cancel/move with corrections, the 「ごみ」 reply, and the iCal export."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.broadcasts import Broadcast
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.garbage.changes import cancel_day, move_day
from broadcaster.garbage.models import CollectionDay
from broadcaster.garbage.reminders import schedule_reminders
from broadcaster.garbage.reply import garbage_reply
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from tests.conftest import ResidentFactory, auth
from tests.garbage.conftest import Importer, allday, vcal

TOKYO = ZoneInfo("Asia/Tokyo")
IMPORTED = datetime(2026, 8, 25, 3, 0, tzinfo=UTC)
EVE = datetime(2026, 8, 31, 18, 0, tzinfo=TOKYO)


def remind(
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    load: Importer,
    make_resident: ResidentFactory,
) -> Broadcast:
    load(vcal(allday("b", "20260901", "燃やすごみ"), allday("r", "20260903", "資源ごみ")), IMPORTED)
    make_resident(reminder_timing="eve")
    [broadcast_id] = schedule_reminders(engine, settings, renderer, EVE).created
    with Session(engine) as session:
        broadcast = session.get(Broadcast, broadcast_id)
        assert broadcast is not None
        return broadcast


def mark_sent(engine: Engine, broadcast: Broadcast, resident_ids: list[int]) -> None:
    with Session(engine) as session:
        row = session.get(Broadcast, broadcast.id)
        assert row is not None and row.id is not None
        row.status = "sent"
        session.add(row)
        for resident_id in resident_ids:
            session.add(
                Delivery(
                    broadcast_id=row.id, resident_id=resident_id, status=DeliveryStatus.accepted
                )
            )
        session.commit()


def test_cancelling_a_reminded_day_sends_a_correction_to_the_same_recipients(
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    load: Importer,
    make_resident: ResidentFactory,
    tokens: dict[str, str],
) -> None:
    reminder = remind(engine, settings, renderer, load, make_resident)
    mark_sent(engine, reminder, [1])
    now = datetime(2026, 8, 31, 20, 0, tzinfo=TOKYO)
    with Session(engine, expire_on_commit=False) as session:
        result = cancel_day(
            session,
            zone="A",
            day=date(2026, 9, 1),
            reason="台風のため",
            actor="環境課",
            department_id=2,
            settings=settings,
            renderer=renderer,
            now=now,
        )
        session.commit()
    [correction_id] = result.corrections
    with Session(engine) as session:
        correction = session.get(Broadcast, correction_id)
        day = session.exec(
            select(CollectionDay).where(CollectionDay.date == date(2026, 9, 1))
        ).one()
    assert correction is not None and correction.recipients_of == reminder.id
    assert correction.template_name == "garbage_correction" and correction.kind == "correction"
    assert (
        correction.parameters["relative"] == "明日"
        and correction.parameters["reason"] == "台風のため"
    )
    assert day.status == "cancelled"
    text = renderer.prepare(
        template_name="garbage_correction", template_text=None, parameters=correction.parameters
    ).render({"language": "ja"})[0]["text"]
    assert "9月1日(火)の燃やすごみの収集は" in text and "台風のため" in text


def test_cancelling_before_the_reminder_went_out_withdraws_it_instead(
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    load: Importer,
    make_resident: ResidentFactory,
    tokens: dict[str, str],
) -> None:
    reminder = remind(engine, settings, renderer, load, make_resident)
    with Session(engine, expire_on_commit=False) as session:
        result = cancel_day(
            session,
            zone="A",
            day=date(2026, 9, 1),
            reason="台風のため",
            actor="環境課",
            department_id=2,
            settings=settings,
            renderer=renderer,
            now=EVE,
        )
        session.commit()
    assert result.corrections == [] and result.withdrawn == [reminder.id]
    with Session(engine) as session:
        assert session.get(Broadcast, reminder.id).status == "cancelled"  # type: ignore[union-attr]
    assert schedule_reminders(engine, settings, renderer, EVE).created == []


def test_moving_a_day_joins_the_target_and_corrects(
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    load: Importer,
    make_resident: ResidentFactory,
    tokens: dict[str, str],
) -> None:
    reminder = remind(engine, settings, renderer, load, make_resident)
    mark_sent(engine, reminder, [1])
    with Session(engine, expire_on_commit=False) as session:
        result = move_day(
            session,
            zone="A",
            day=date(2026, 9, 1),
            to=date(2026, 9, 3),
            reason="台風のため",
            actor="環境課",
            department_id=2,
            settings=settings,
            renderer=renderer,
            now=EVE + timedelta(hours=2),
        )
        session.commit()
    assert result.day.kinds == ["burnable", "recyclable"] and result.day.moved_from == date(
        2026, 9, 1
    )
    assert len(result.corrections) == 1


def test_reply_lists_next_days_with_today_and_tomorrow(
    engine: Engine, settings: Settings, load: Importer, make_resident: ResidentFactory
) -> None:
    load(
        vcal(
            allday("b", "20260901", "燃やすごみ", "RRULE:FREQ=WEEKLY;BYDAY=TU,FR;COUNT=8"),
            allday("r", "20260901", "資源ごみ"),
        ),
        IMPORTED,
    )
    resident = make_resident()
    with Session(engine) as session:
        [message] = garbage_reply(
            session, resident, datetime(2026, 9, 1, 7, 0, tzinfo=TOKYO), settings=settings
        )
        lines = message["text"].splitlines()
        assert lines[0] == "A地区のごみ収集日"
        assert lines[1] == "【今日】9月1日(火) 燃やすごみ、資源ごみ"
        assert len(lines) == 1 + settings.garbage.reply_days
        nobody = make_resident(garbage_zone=None)
        [prompt] = garbage_reply(
            session, nobody, datetime(2026, 9, 1, 7, 0, tzinfo=TOKYO), settings=settings
        )
        assert "配信設定" in prompt["text"]


def test_export_serves_future_days_that_parse_back(
    app_client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    start = date.today() + timedelta(days=3)
    data = vcal(allday("b", f"{start:%Y%m%d}", "資源ごみ、びん・缶", "RRULE:FREQ=WEEKLY;COUNT=3"))
    response = app_client.post(
        "/api/v1/calendars/A",
        files={"file": ("a.ics", data, "text/calendar")},
        headers=auth(tokens["環境課"]),
    )
    assert response.status_code == 200, response.text
    first = app_client.get("/calendars/A.ics")
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/calendar")
    events = icalendar.Calendar.from_ical(first.content).walk("VEVENT")
    assert [event.decoded("DTSTART") for event in events] == [
        start + timedelta(weeks=n) for n in range(3)
    ]
    assert str(events[0]["SUMMARY"]) == "資源ごみ、びん、缶"
    # Stable UIDs: re-importing the same file exports the same identifiers.
    app_client.post(
        "/api/v1/calendars/A",
        files={"file": ("a.ics", data, "text/calendar")},
        headers=auth(tokens["環境課"]),
    )
    again = icalendar.Calendar.from_ical(app_client.get("/calendars/A.ics").content).walk("VEVENT")
    assert [str(e["UID"]) for e in again] == [str(e["UID"]) for e in events]
    assert app_client.get("/calendars/Z.ics").status_code == 404


def test_cancel_api_needs_the_garbage_department(
    app_client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    day = date.today() + timedelta(days=3)
    data = vcal(allday("b", f"{day:%Y%m%d}", "燃やすごみ"))
    app_client.post(
        "/api/v1/calendars/A",
        files={"file": ("a.ics", data, "text/calendar")},
        headers=auth(tokens["環境課"]),
    )
    url = f"/api/v1/calendars/A/days/{day}/cancel"
    assert (
        app_client.post(
            url, json={"reason": "台風"}, headers=auth(tokens["子育て支援課"])
        ).status_code
        == 403
    )
    response = app_client.post(url, json={"reason": "台風のため"}, headers=auth(tokens["環境課"]))
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert (
        app_client.post(
            url, json={"reason": "台風のため"}, headers=auth(tokens["環境課"])
        ).status_code
        == 422
    )
    missing = f"/api/v1/calendars/A/days/{day + timedelta(days=1)}/cancel"
    assert (
        app_client.post(missing, json={"reason": "x"}, headers=auth(tokens["環境課"])).status_code
        == 404
    )
