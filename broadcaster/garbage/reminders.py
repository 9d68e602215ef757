"""Garbage reminders: the evening before (19:00) or the same morning (06:30), per resident's
choice, one message per zone and day listing every kind collected that day.

The calendar is the truth: a day with no collection (year-end, a holiday the city skips)
has no row, so it gets no reminder; jpholiday is only used to show 「（祝）」.

Quiet hours: 06:30 is inside the default 21:00–07:00 window, but the morning reminder is
what the resident asked for at that time. With garbage.reminders_ignore_quiet_hours (the
default) a reminder whose send time falls in quiet hours is created quiet_hours_exempt
(opt-outs and caps still apply); otherwise it is not created and the job reports that
morning_time must be moved to or after quiet_hours.end.

Every send goes through `create_broadcast`; a GarbageReminder row (unique per zone, date
and timing) makes the job idempotent: running it twice creates nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import jpholiday
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcaster import quiet_hours
from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_edits import cancel_broadcast
from broadcaster.broadcast_requests import BroadcastRefused, BroadcastRequest
from broadcaster.broadcasts import EDITABLE, Broadcast, BroadcastKind
from broadcaster.clock import local
from broadcaster.datelabels import date_label
from broadcaster.departments import Department
from broadcaster.garbage.kinds import KindTable, kind_table
from broadcaster.garbage.models import CollectionDay, DayStatus, GarbageReminder
from broadcaster.render import Renderer
from broadcaster.settings import GarbageSettings, Settings
from segments.residents import FollowState, Resident

log = logging.getLogger(__name__)

REMINDER_TEMPLATE = "garbage_reminder"
CATEGORY = "garbage"
TIMING_WORDS = {"eve": "前日", "morning": "当日"}
SYSTEM_ACTOR = "garbage calendar"
RESIDENT_LANGUAGES = ("ja", "easy-ja", "en", "zh", "ko", "vi", "pt")


@dataclass(frozen=True)
class ReminderSlot:
    """When a timing is sent: `days_before` the collection day, at local `at`."""

    days_before: int
    at: time


@dataclass(frozen=True)
class ReminderPlan:
    zone: str
    date: date
    timing: str
    kinds: tuple[str, ...]
    unmapped: tuple[str, ...]
    send_at: datetime
    notes: tuple[str, ...] = ()


@dataclass
class ReminderRun:
    """What one run of the job did; `problems` are for staff (also logged)."""

    created: list[int] = field(default_factory=list)
    skipped_existing: int = 0
    skipped_empty: int = 0
    problems: list[str] = field(default_factory=list)


def slots(garbage: GarbageSettings) -> dict[str, ReminderSlot]:
    """The offered timings (config) and when each is sent."""
    known = {
        "eve": ReminderSlot(1, garbage.eve_time),
        "morning": ReminderSlot(0, garbage.morning_time),
    }
    return {timing: known[timing] for timing in garbage.timings if timing in known}


def send_time(day: date, slot: ReminderSlot, tz: tzinfo) -> datetime:
    return datetime.combine(day - timedelta(days=slot.days_before), slot.at, tzinfo=tz)


def reminders_due(
    days: Iterable[CollectionDay],
    now: datetime,
    timings: Mapping[str, ReminderSlot],
    *,
    tz: tzinfo,
    ahead: timedelta = timedelta(hours=2),
    late: timedelta = timedelta(minutes=30),
) -> list[ReminderPlan]:
    """Pure: the reminders whose send time is in (now - late, now + ahead], one per zone, day
    and timing; cancelled days and days without kinds get none."""
    plans: list[ReminderPlan] = []
    for day in days:
        if day.status != DayStatus.scheduled or not (day.kinds or day.unmapped):
            continue
        for timing, slot in timings.items():
            at = send_time(day.date, slot, tz)
            if now - late < at <= now + ahead:
                plans.append(
                    ReminderPlan(
                        day.zone,
                        day.date,
                        timing,
                        tuple(day.kinds),
                        tuple(day.unmapped),
                        at,
                        tuple(day.notes or ()),
                    )
                )
    plans.sort(key=lambda plan: (plan.send_at, plan.zone, plan.timing))
    return plans


def holiday_mark(day: date) -> str:
    """「（祝）」 on a national holiday: display only, the calendar decides collection."""
    return "（祝）" if jpholiday.is_holiday(day) else ""


def day_label(day: date) -> str:
    return date_label(day, "ja") + holiday_mark(day)


def relative_word(day: date, today: date) -> str:
    return {0: "今日", 1: "明日"}.get((day - today).days, "")


def reminder_parameters(plan: ReminderPlan, table: KindTable) -> dict[str, Any]:
    """What garbage_reminder.<lang>.j2 receives."""
    return {
        "zone": plan.zone,
        "collection_date": plan.date.isoformat(),
        "date_label": day_label(plan.date),
        "timing": plan.timing,
        "relative": "明日" if plan.timing == "eve" else "今日",
        "holiday": jpholiday.is_holiday_name(plan.date) or "",
        "kinds": table.display(plan.kinds, plan.unmapped),
        "notes": list(plan.notes),
        # What is collected, as each language lists it: 「燃やすごみ、粗大ごみ（要予約）」.
        "names": names_by_language(table, plan.kinds, plan.unmapped, plan.notes),
    }


def names_by_language(
    table: KindTable, kinds: Iterable[str], unmapped: Iterable[str], notes: Iterable[str] = ()
) -> dict[str, str]:
    """Language -> one line naming the kinds (and the day's notes) for residents."""
    kinds, unmapped, notes = list(kinds), list(unmapped), list(notes)
    return {
        language: table.text(kinds, unmapped, notes, language) for language in RESIDENT_LANGUAGES
    }


def reminder_rule(zone: str, timing: str) -> dict[str, Any]:
    return {
        "all": [
            {"field": "garbage_zone", "op": "eq", "value": zone},
            {"field": "reminder_timing", "op": "eq", "value": timing},
        ]
    }


def garbage_department(session: Session, settings: Settings) -> Department | None:
    return session.exec(
        select(Department).where(Department.name == settings.garbage.department)
    ).first()


def schedule_reminders(
    engine: Engine, settings: Settings, renderer: Renderer, now: datetime
) -> ReminderRun:
    """The scheduler job: create the reminder broadcasts of the coming slot (each is then
    sent at its send_at by the normal schedule). Safe to run as often as wanted."""
    run = ReminderRun()
    garbage = settings.garbage
    today = local(now, settings.tz).date()
    with Session(engine, expire_on_commit=False) as session:
        department = garbage_department(session, settings)
        if department is None or department.id is None:
            run.problems.append(
                f"garbage reminders not created: department {garbage.department!r} "
                "(garbage.department) "
                f"does not exist; create it with `broadcaster department add {garbage.department}`"
            )
            log.error(run.problems[-1])
            return run
        days = session.exec(
            select(CollectionDay).where(
                col(CollectionDay.date) >= today,
                col(CollectionDay.date) <= today + timedelta(days=2),
            )
        ).all()
        plans = reminders_due(
            days,
            now,
            slots(garbage),
            tz=settings.tz,
            ahead=timedelta(minutes=garbage.create_ahead_minutes),
            late=timedelta(minutes=settings.scheduling.max_lateness_minutes),
        )
        table = kind_table(settings)
        for plan in plans:
            _create_one(session, plan, department.id, settings, renderer, table, now, run)
    return run


def _create_one(
    session: Session,
    plan: ReminderPlan,
    department_id: int,
    settings: Settings,
    renderer: Renderer,
    table: KindTable,
    now: datetime,
    run: ReminderRun,
) -> None:
    existing = session.exec(
        select(GarbageReminder.id).where(
            GarbageReminder.zone == plan.zone,
            GarbageReminder.date == plan.date,
            GarbageReminder.timing == plan.timing,
        )
    ).first()
    if existing is not None:
        run.skipped_existing += 1
        return
    if not _has_audience(session, plan):
        run.skipped_empty += 1
        return
    in_quiet = quiet_hours.in_quiet_hours(plan.send_at, settings.quiet_hours, settings.tz)
    if in_quiet and not settings.garbage.reminders_ignore_quiet_hours:
        run.problems.append(
            f"{plan.timing} reminder for zone {plan.zone} on {plan.date} not created: "
            f"{plan.send_at.astimezone(settings.tz):%H:%M} is inside quiet hours "
            f"{quiet_hours.window_label(settings.quiet_hours)}; "
            "set garbage.morning_time at or after "
            "quiet_hours.end, or garbage.reminders_ignore_quiet_hours = true"
        )
        log.warning(run.problems[-1])
        return
    request = BroadcastRequest(
        title=f"ごみ収集 {plan.zone} {day_label(plan.date)}（{TIMING_WORDS[plan.timing]}）",
        category=CATEGORY,
        template_name=REMINDER_TEMPLATE,
        parameters=reminder_parameters(plan, table),
        rule=reminder_rule(plan.zone, plan.timing),
        send_at=max(plan.send_at, now),
        kind=BroadcastKind.garbage_reminder,
        quiet_hours_exempt=in_quiet,
        source={
            "garbage": {"zone": plan.zone, "date": plan.date.isoformat(), "timing": plan.timing}
        },
    )
    try:
        broadcast = create_broadcast(
            session, SYSTEM_ACTOR, department_id, request, settings, renderer, now
        )
        assert broadcast.id is not None
        session.add(
            GarbageReminder(
                zone=plan.zone,
                date=plan.date,
                timing=plan.timing,
                kinds=list(plan.kinds),
                broadcast_id=broadcast.id,
                created_at=now,
            )
        )
        session.commit()
    except sa.exc.IntegrityError:
        # Another replica created it first: the unique key decided, nothing doubled.
        session.rollback()
        run.skipped_existing += 1
        return
    except BroadcastRefused as exc:
        session.rollback()
        run.problems.append(
            f"reminder for zone {plan.zone} on {plan.date} ({plan.timing}) refused: {exc.message}"
        )
        log.error(run.problems[-1])
        return
    run.created.append(broadcast.id)


def _has_audience(session: Session, plan: ReminderPlan) -> bool:
    found = session.exec(
        select(Resident.id)
        .where(
            Resident.garbage_zone == plan.zone,
            Resident.reminder_timing == plan.timing,
            Resident.follow_state == FollowState.following,
        )
        .limit(1)
    ).first()
    return found is not None


def withdraw_unsent(
    session: Session, zone: str, days: Iterable[date], now: datetime, *, reason: str
) -> list[int]:
    """Cancel reminders for these days that are not being sent yet, and forget them so the
    job plans them again from the changed calendar. Returns the cancelled broadcast ids."""
    wanted = set(days)
    if not wanted:
        return []
    rows = session.exec(
        select(GarbageReminder).where(
            GarbageReminder.zone == zone, col(GarbageReminder.date).in_(wanted)
        )
    ).all()
    cancelled: list[int] = []
    for reminder in rows:
        broadcast = session.get(Broadcast, reminder.broadcast_id)
        if broadcast is None or broadcast.status not in EDITABLE:
            continue
        cancel_broadcast(session, broadcast, f"{SYSTEM_ACTOR} ({reason})", now)
        cancelled.append(reminder.broadcast_id)
        session.delete(reminder)
    session.flush()
    return cancelled


def sent_reminders(session: Session, zone: str, day: date) -> list[GarbageReminder]:
    """Reminders for the day that went (or are going) out: corrections must follow them."""
    rows = session.exec(
        select(GarbageReminder).where(GarbageReminder.zone == zone, GarbageReminder.date == day)
    ).all()
    result = []
    for reminder in rows:
        broadcast = session.get(Broadcast, reminder.broadcast_id)
        if (
            broadcast is not None
            and broadcast.status not in EDITABLE
            and broadcast.status not in ("cancelled", "expired")
        ):
            result.append(reminder)
    return result
