"""Staff changes to one collection day: cancel it (台風で収集中止) or move it to another date.

A reminder not yet being sent is simply withdrawn. Residents already reminded (the reminder
broadcast is sending or sent) get a correction (template garbage_correction) addressed to
exactly the reminder's recipients (recipients_of), e.g.
「【訂正】台風のため、明日（9月1日）の燃やすごみの収集は中止します。」

Corrections are sent at once with bypass_limits: they only reach people we already
reminded, and a wrong reminder left standing (or held by a cap or quiet hours until after
the truck has come) is worse than one extra message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from broadcaster import audit
from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.broadcasts import BroadcastKind
from broadcaster.clock import local
from broadcaster.errors import FeatureRefusal
from broadcaster.garbage.kinds import kind_table
from broadcaster.garbage.models import CollectionDay, DayStatus, GarbageReminder
from broadcaster.garbage.reminders import (
    CATEGORY,
    day_label,
    names_by_language,
    relative_word,
    sent_reminders,
    withdraw_unsent,
)
from broadcaster.render import Renderer
from broadcaster.settings import Settings

CORRECTION_TEMPLATE = "garbage_correction"


class ChangeError(FeatureRefusal, ValueError):
    """The change cannot be made; `str()` says why (the API answers 404/422 with it)."""

    def __init__(
        self, message: str, *, not_found: bool = False, code: str = "", **params: Any
    ) -> None:
        super().__init__(message, code, **params)
        self.not_found = not_found


@dataclass
class ChangeResult:
    day: CollectionDay
    withdrawn: list[int] = field(default_factory=list)
    corrections: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "zone": self.day.zone,
            "date": self.day.date.isoformat(),
            "status": self.day.status,
            "reason": self.day.reason,
            "withdrawn_reminders": self.withdrawn,
            "corrections": self.corrections,
        }


def _scheduled_day(session: Session, zone: str, day: date) -> CollectionDay:
    row = session.exec(
        select(CollectionDay).where(CollectionDay.zone == zone, CollectionDay.date == day)
    ).first()
    if row is None:
        raise ChangeError(
            f"zone {zone} has no collection on {day}",
            not_found=True,
            code="calendar.no_collection",
            zone=zone,
            day=day.isoformat(),
        )
    if row.status != DayStatus.scheduled:
        raise ChangeError(
            f"the collection of zone {zone} on {day} is already {row.status}",
            code="calendar.day_changed",
            zone=zone,
            day=day.isoformat(),
            status=str(row.status),
        )
    return row


def cancel_day(
    session: Session,
    *,
    zone: str,
    day: date,
    reason: str,
    actor: str,
    department_id: int,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> ChangeResult:
    """Cancel a collection day in the caller's transaction (flushed, not committed).

    Raises ChangeError (unknown or already cancelled day) and BroadcastRefused (correction).
    """
    row = _scheduled_day(session, zone, day)
    before = row.model_dump(mode="json")
    row.status = DayStatus.cancelled
    row.reason = reason
    row.updated_at = now
    session.add(row)
    result = ChangeResult(row)
    result.corrections = _correct(
        session,
        row,
        action="cancel",
        new_date=None,
        reason=reason,
        actor=actor,
        department_id=department_id,
        settings=settings,
        renderer=renderer,
        now=now,
    )
    result.withdrawn = withdraw_unsent(
        session, zone, [day], now, reason=f"collection cancelled: {reason}"
    )
    audit.record(
        session,
        at=now,
        actor=actor,
        action="calendar.day.cancel",
        entity="collection_day",
        entity_id=row.id,
        department_id=department_id,
        before=before,
        after=row.model_dump(mode="json"),
    )
    session.flush()
    return result


def move_day(
    session: Session,
    *,
    zone: str,
    day: date,
    to: date,
    reason: str,
    actor: str,
    department_id: int,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> ChangeResult:
    """Move a collection day's kinds to `to` (joining any collection already there).

    The old day stays as a cancelled row naming the move, so history and corrections can
    point at it. Raises ChangeError for an unknown day, a past or equal target date.
    """
    today = local(now, settings.tz).date()
    if to == day:
        raise ChangeError("the new date is the same as the old one", code="calendar.same_day")
    if to < today:
        raise ChangeError(
            f"cannot move to {to}: it is in the past",
            code="calendar.move_to_past",
            to=to.isoformat(),
        )
    row = _scheduled_day(session, zone, day)
    before = row.model_dump(mode="json")
    target = session.exec(
        select(CollectionDay).where(CollectionDay.zone == zone, CollectionDay.date == to)
    ).first()
    if target is None:
        target = CollectionDay(zone=zone, date=to, created_at=now, updated_at=now)
    elif target.status != DayStatus.scheduled:
        target.kinds, target.unmapped, target.notes = [], [], []
    target.kinds = kind_table(settings).order([*target.kinds, *row.kinds])
    target.unmapped = list(dict.fromkeys([*target.unmapped, *row.unmapped]))
    target.notes = list(dict.fromkeys([*(target.notes or []), *(row.notes or [])]))
    target.status = DayStatus.scheduled
    target.moved_from = day
    target.reason = reason
    target.updated_at = now
    row.status = DayStatus.cancelled
    row.reason = f"{reason}（{to.isoformat()} に変更）"
    row.updated_at = now
    session.add(row)
    session.add(target)
    session.flush()
    result = ChangeResult(target)
    result.corrections = _correct(
        session,
        row,
        action="move",
        new_date=to,
        reason=reason,
        actor=actor,
        department_id=department_id,
        settings=settings,
        renderer=renderer,
        now=now,
    )
    result.withdrawn = withdraw_unsent(
        session, zone, [day, to], now, reason=f"collection moved: {reason}"
    )
    audit.record(
        session,
        at=now,
        actor=actor,
        action="calendar.day.move",
        entity="collection_day",
        entity_id=row.id,
        department_id=department_id,
        before=before,
        after={"moved_to": to.isoformat(), "target": target.model_dump(mode="json")},
    )
    session.flush()
    return result


def correction_parameters(
    row: CollectionDay,
    *,
    action: str,
    new_date: date | None,
    reason: str,
    settings: Settings,
    now: datetime,
) -> dict[str, Any]:
    """What garbage_correction.<lang>.j2 receives."""
    today = local(now, settings.tz).date()
    return {
        "zone": row.zone,
        "action": action,
        "reason": reason,
        "collection_date": row.date.isoformat(),
        "date_label": day_label(row.date),
        "relative": relative_word(row.date, today),
        # What is collected on collection_date now: nothing, once cancelled or moved away.
        "kinds": [],
        "cancelled_kinds": kind_table(settings).display(row.kinds, row.unmapped),
        "cancelled_names": names_by_language(kind_table(settings), row.kinds, row.unmapped),
        "new_date": new_date.isoformat() if new_date else "",
        "new_date_label": day_label(new_date) if new_date else "",
    }


def _correct(
    session: Session,
    row: CollectionDay,
    *,
    action: str,
    new_date: date | None,
    reason: str,
    actor: str,
    department_id: int,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> list[int]:
    created: list[int] = []
    parameters = correction_parameters(
        row, action=action, new_date=new_date, reason=reason, settings=settings, now=now
    )
    for reminder in sent_reminders(session, row.zone, row.date):
        request = BroadcastRequest(
            title=f"【訂正】ごみ収集 {row.zone} {day_label(row.date)}",
            category=CATEGORY,
            template_name=CORRECTION_TEMPLATE,
            parameters=parameters,
            kind=BroadcastKind.correction,
            bypass_limits=True,
            recipients_of=reminder.broadcast_id,
            parent_id=reminder.broadcast_id,
            source={"garbage": {"zone": row.zone, "date": row.date.isoformat(), "action": action}},
        )
        broadcast = create_broadcast(
            session, actor, department_id, request, settings, renderer, now
        )
        assert broadcast.id is not None
        _link(session, reminder, broadcast.id)
        created.append(broadcast.id)
    return created


def _link(session: Session, reminder: GarbageReminder, correction_id: int) -> None:
    reminder.correction_id = correction_id
    session.add(reminder)
