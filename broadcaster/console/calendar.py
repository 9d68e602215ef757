"""What is planned: a month or a week of sends, server-rendered, at /console/calendar.

Each broadcast row is one send (a recurring notice's next firing gets its row when the
one before is sent), so the calendar shows the rows in the window and, for a recurring
notice still to come, its later firings computed from its recurrence (marked 繰り返し).
A department sees its own; an admin sees all and may pick one department. One query for
the window (send_at between its bounds), never a scan of every broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from broadcaster.api.deps import SessionDep
from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.clock import utcnow
from broadcaster.console.notice_words import STATUS_LABELS, WEEKDAYS
from broadcaster.console.web import ConsoleStaff, render, require_csrf
from broadcaster.departments import Department, Role
from broadcaster.recurrence import RecurrenceError, next_time
from broadcaster.settings import Settings
from segments.stops import category_label

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
# Not planned any more: left off the calendar.
HIDDEN = (BroadcastStatus.cancelled, BroadcastStatus.expired)
# A recurring notice shows at most this many later firings in one window (daily: a month).
MAX_FIRINGS = 40


@dataclass(frozen=True)
class Entry:
    broadcast: Broadcast
    at: datetime  # local
    department: str
    repeat: bool  # a later firing computed from the recurrence, not a row yet


def _day(raw: str, today: date) -> date:
    try:
        return date.fromisoformat(raw) if raw else today
    except ValueError:
        return today


def _window(view: str, day: date) -> tuple[date, date]:
    if view == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    first = day.replace(day=1)
    start = first - timedelta(days=first.weekday())
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    end = following + timedelta(days=(7 - following.weekday()) % 7)
    return start, end


@router.get("/console/calendar", response_class=HTMLResponse)
def calendar(
    request: Request,
    session: SessionDep,
    staff: ConsoleStaff,
    view: Annotated[str, Query()] = "month",
    on: Annotated[str, Query(max_length=10)] = "",
    category: str = "",
    department: str = "",
) -> Response:
    settings: Settings = request.app.state.settings
    tz = settings.tz
    view = "week" if view == "week" else "month"
    today = utcnow().astimezone(tz).date()
    day = _day(on, today)
    start, end = _window(view, day)
    low = datetime.combine(start, time(), tz)
    high = datetime.combine(end, time(), tz)
    query = (
        select(Broadcast, Department.name)
        .join(Department, col(Department.id) == Broadcast.department_id)
        .where(col(Broadcast.status).not_in(list(HIDDEN)))
        .order_by(col(Broadcast.send_at), col(Broadcast.id))
    )
    if staff.role != Role.admin:
        query = query.where(Broadcast.department_id == staff.actor.department_id)
    elif department.isdigit():
        query = query.where(Broadcast.department_id == int(department))
    if category in settings.residents.categories:
        query = query.where(Broadcast.category == category)
    in_window = query.where(col(Broadcast.send_at) >= low, col(Broadcast.send_at) < high)
    entries = [
        Entry(b, b.send_at.astimezone(tz), name, False) for b, name in session.exec(in_window)
    ]
    recurring = query.where(
        col(Broadcast.recurrence).is_not(None),
        col(Broadcast.status).in_([BroadcastStatus.scheduled, BroadcastStatus.awaiting_approval]),
        col(Broadcast.send_at) < high,
    )
    for broadcast, name in session.exec(recurring):
        entries += _firings(broadcast, name, max(low, broadcast.send_at), high, settings)
    by_day: dict[date, list[Entry]] = {}
    for entry in sorted(entries, key=lambda e: (e.at, e.broadcast.id or 0)):
        by_day.setdefault(entry.at.date(), []).append(entry)
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    step = timedelta(days=7) if view == "week" else timedelta(days=32)
    previous = (day - step) if view == "week" else (day.replace(day=1) - timedelta(days=1))
    following = (day + step) if view == "week" else (day.replace(day=1) + step).replace(day=1)
    heading = (
        f"{start:%Y年%m月%d日}〜{end - timedelta(days=1):%m月%d日}"
        if view == "week"
        else f"{day.year}年{day.month}月"
    )
    return render(
        request,
        "calendar.html",
        staff,
        view=view,
        day=day,
        today=today,
        weeks=[days[i : i + 7] for i in range(0, len(days), 7)],
        by_day=by_day,
        heading=heading,
        previous=previous,
        following=following,
        weekdays=WEEKDAYS,
        status_labels=STATUS_LABELS,
        categories=[(c, category_label(c)) for c in settings.residents.categories],
        category=category,
        department=department,
        departments=(
            session.exec(select(Department).order_by(col(Department.id))).all()
            if staff.role == Role.admin
            else []
        ),
        category_label=category_label,
        count=len(entries),
    )


def _firings(
    broadcast: Broadcast, department: str, after: datetime, before: datetime, settings: Settings
) -> list[Entry]:
    """Later firings of a recurring notice inside the window (its own row is not one)."""
    assert broadcast.recurrence is not None
    found: list[Entry] = []
    when = after
    for _ in range(MAX_FIRINGS):
        try:
            fired = next_time(broadcast.recurrence, when, settings.tz)
        except RecurrenceError:
            return found
        if fired is None or fired >= before:
            break
        if fired > broadcast.send_at:
            found.append(Entry(broadcast, fired.astimezone(settings.tz), department, True))
        when = fired
    return found
