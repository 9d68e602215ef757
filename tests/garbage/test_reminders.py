"""Reminders: the evening before and the same morning, one message per zone and day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.broadcasts import Broadcast
from broadcaster.clock import utcnow
from broadcaster.garbage.models import CollectionDay
from broadcaster.garbage.reminders import ReminderSlot, reminders_due, schedule_reminders, slots
from broadcaster.planning import plan_for
from broadcaster.render import Renderer
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.schedule import dispatch_due
from broadcaster.settings import Settings
from segments.residents import Resident, ResidentOptOut
from tests.clock import freeze_time
from tests.conftest import ResidentFactory, make_settings
from tests.delivery.scenario import deliver_all, line_settings
from tests.garbage.conftest import Importer, allday, vcal

TOKYO = ZoneInfo("Asia/Tokyo")
IMPORTED = datetime(2026, 4, 1, 3, 0, tzinfo=UTC)


def tokyo(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


def reminders(engine: Engine) -> list[Broadcast]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Broadcast).where(Broadcast.kind == "garbage_reminder").order_by(Broadcast.id)
            )
        )


def test_reminders_due_is_pure_and_respects_the_window() -> None:
    day = CollectionDay(
        zone="A",
        date=date(2026, 4, 7),
        kinds=["burnable"],
        created_at=IMPORTED,
        updated_at=IMPORTED,
    )
    timings = {
        "eve": ReminderSlot(1, datetime.min.time().replace(hour=19)),
        "morning": ReminderSlot(0, datetime.min.time().replace(hour=6, minute=30)),
    }
    plans = reminders_due([day], tokyo(2026, 4, 6, 18, 0), timings, tz=TOKYO)
    assert [(p.timing, p.send_at) for p in plans] == [("eve", tokyo(2026, 4, 6, 19, 0))]
    assert reminders_due([day], tokyo(2026, 4, 6, 16, 0), timings, tz=TOKYO) == []
    assert [p.timing for p in reminders_due([day], tokyo(2026, 4, 7, 5, 0), timings, tz=TOKYO)] == [
        "morning"
    ]


def test_eve_and_morning_reminders_one_message_for_two_kinds_and_idempotent(
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    load: Importer,
    make_resident: ResidentFactory,
    tokens: dict[str, str],
) -> None:
    load(vcal(allday("b", "20260407", "燃やすごみ"), allday("r", "20260407", "資源ごみ")), IMPORTED)
    make_resident(reminder_timing="eve")
    make_resident(reminder_timing="morning")
    make_resident(reminder_timing="off")
    with freeze_time("2026-04-06 09:00:00"):  # 18:00 JST, an hour before the eve slot
        run = schedule_reminders(engine, settings, renderer, utcnow())
        again = schedule_reminders(engine, settings, renderer, utcnow())
    assert len(run.created) == 1 and again.created == [] and again.skipped_existing == 1
    [eve] = reminders(engine)
    assert eve.send_at == tokyo(2026, 4, 6, 19, 0)
    assert eve.parameters["kinds"] == ["燃やすごみ", "資源ごみ"]
    assert eve.rule["all"][1] == {"field": "reminder_timing", "op": "eq", "value": "eve"}
    assert eve.category == "garbage" and not eve.bypass_limits
    text = renderer.prepare(
        template_name="garbage_reminder", template_text=None, parameters=eve.parameters
    ).render({"language": "ja", "reminder_timing": "eve"})[0]["text"]
    assert "明日" in text and "燃やすごみ、資源ごみの日" in text

    with freeze_time("2026-04-06 20:00:00"):  # 05:00 JST on the day
        morning_run = schedule_reminders(engine, settings, renderer, utcnow())
    [_, morning] = reminders(engine)
    assert morning_run.created == [morning.id]
    assert morning.send_at == tokyo(2026, 4, 7, 6, 30)
    # 06:30 is inside quiet hours 21:00-07:00: the resident asked for it then, so quiet
    # hours do not hold it, while their opt-outs and the caps still apply.
    assert morning.quiet_hours_exempt and not morning.bypass_limits


def test_morning_reminders_held_to_quiet_hours_are_reported_not_created(
    tmp_path: object,
    engine: Engine,
    load: Importer,
    make_resident: ResidentFactory,
    tokens: dict[str, str],
) -> None:
    strict = make_settings(tmp_path, **{"garbage.reminders_ignore_quiet_hours": False})  # type: ignore[arg-type]
    load(vcal(allday("b", "20260407", "燃やすごみ")), IMPORTED)
    make_resident(reminder_timing="morning")
    run = schedule_reminders(
        engine, strict, Renderer.from_settings(strict), tokyo(2026, 4, 7, 5, 0)
    )
    assert run.created == []
    assert "quiet hours" in run.problems[0] and "morning_time" in run.problems[0]


def test_holidays_follow_the_calendar_and_year_end_has_no_reminder(
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    load: Importer,
    make_resident: ResidentFactory,
    tokens: dict[str, str],
) -> None:
    # 5/4 (みどりの日) has a collection, 5/5 (こどもの日) has none; 12/31-1/3 are excluded.
    series = allday(
        "b",
        "20261228",
        "燃やすごみ",
        "RRULE:FREQ=DAILY;UNTIL=20270105",
        "EXDATE;VALUE=DATE:20261231,20270101,20270102,20270103",
    )
    load(vcal(allday("h", "20260504", "燃やすごみ"), series), IMPORTED)
    make_resident(reminder_timing="eve")
    assert (
        len(schedule_reminders(engine, settings, renderer, tokyo(2026, 5, 3, 18, 0)).created) == 1
    )
    assert reminders(engine)[0].parameters["date_label"] == "5月4日(月)（祝）"
    assert schedule_reminders(engine, settings, renderer, tokyo(2026, 5, 4, 18, 0)).created == []
    assert schedule_reminders(engine, settings, renderer, tokyo(2026, 12, 30, 18, 0)).created == []
    assert (
        len(schedule_reminders(engine, settings, renderer, tokyo(2027, 1, 3, 18, 0)).created) == 1
    )


def test_missing_department_is_reported(
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    load: Importer,
    make_resident: ResidentFactory,
) -> None:
    load(vcal(allday("b", "20260407", "燃やすごみ")), IMPORTED)
    make_resident(reminder_timing="eve")
    run = schedule_reminders(engine, settings, renderer, tokyo(2026, 4, 6, 18, 0))
    assert run.created == [] and "環境課" in run.problems[0]


def test_offered_timings_come_from_config(tmp_path: object) -> None:
    only_eve = make_settings(tmp_path, **{"garbage.timings": ["eve", "off"]})  # type: ignore[arg-type]
    assert list(slots(only_eve.garbage)) == ["eve"]


def test_a_morning_reminder_goes_out_in_quiet_hours_but_honours_opt_outs(
    settings: Settings,
    engine: Engine,
    renderer: Renderer,
    load: Importer,
    make_resident: ResidentFactory,
    tokens: dict[str, str],
) -> None:
    load(vcal(allday("b", "20260407", "燃やすごみ")), IMPORTED)
    wants = make_resident(garbage_zone="A", reminder_timing="morning")
    opted_out = make_resident(garbage_zone="A", reminder_timing="morning")
    with Session(engine) as session:
        session.add(ResidentOptOut(resident_id=opted_out.id, category="garbage"))
        session.commit()
    with freeze_time("2026-04-06 20:00:00"):  # 05:00 JST on collection day
        schedule_reminders(engine, settings, renderer, utcnow())
    [morning] = reminders(engine)
    at_send_time = tokyo(2026, 4, 7, 6, 30)
    with Session(engine) as session:
        plan = plan_for(session, morning, settings, renderer, at_send_time)
        chosen = session.exec(select(Resident.id).where(plan.audience)).all()
    assert chosen == [wants.id]


def test_the_eve_reminder_reaches_through_line_only_those_who_chose_the_eve(
    engine: Engine,
    tmp_path: Path,
    renderer: Renderer,
    load: Importer,
    make_resident: ResidentFactory,
    tokens: dict[str, str],
) -> None:
    """Calendar import -> reminder broadcast -> scheduler tick -> outbox -> worker ->
    LINE (the sandbox, through the real SDK): one message naming both kinds."""
    load(vcal(allday("b", "20260407", "燃やすごみ"), allday("r", "20260407", "資源ごみ")), IMPORTED)
    eve = make_resident(reminder_timing="eve")
    morning = make_resident(reminder_timing="morning")
    other_zone = make_resident(reminder_timing="eve", garbage_zone="B")
    with SandboxThread() as sandbox:
        settings = line_settings(tmp_path, sandbox.url)
        with freeze_time("2026-04-06 09:00:00"):  # 18:00 JST
            schedule_reminders(engine, settings, renderer, utcnow())
        assert dispatch_due(engine, settings, renderer, tokyo(2026, 4, 6, 19, 0, 5)) == 1
        deliver_all(engine, settings)
        [messages] = [m["messages"] for m in sandbox.deliveries(eve.line_user_id)]
        assert received_nothing(sandbox, morning.line_user_id, other_zone.line_user_id)
    [text] = [m["text"] for m in messages]
    assert "明日" in text and "燃やすごみ、資源ごみの日" in text


def received_nothing(sandbox: SandboxThread, *user_ids: str) -> bool:
    return all(sandbox.deliveries(user_id) == [] for user_id in user_ids)
