"""Alerts from the feeds become drafts for the disaster desk; nothing here sends.

An alert never reaches residents on its own: it makes (or updates, or cancels) a draft with
level, disaster kind, districts and text prefilled, and a person confirms it in one call.
Exercise and test alerts (CAP Exercise/Test/System/Draft, JMA 訓練/試験) make drafts marked
as drills, which can only ever be sent as 【訓練】, or are recorded and ignored
(`emergency.exercise_alerts = "ignore"`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import Session, select

from broadcaster.emergency import cap
from broadcaster.emergency.alert import AlertStatus, MessageType, ParsedAlert
from broadcaster.emergency.areas import AreaMap
from broadcaster.emergency.models import AlertRecord, DraftStatus, DraftThread, EmergencyDraft

Outcome = Literal[
    "draft_created",
    "draft_updated",
    "draft_cancelled",
    "attention",
    "duplicate",
    "stale",
    "ignored_exercise",
    "outside_city",
    "unknown_thread",
]


@dataclass(frozen=True)
class AlertOutcome:
    record: AlertRecord
    draft: EmergencyDraft | None
    outcome: str


def apply_alert(
    session: Session,
    alert: ParsedAlert,
    raw: str,
    areas: AreaMap,
    exercise_policy: Literal["drill_draft", "ignore"],
    now: datetime,
) -> AlertOutcome:
    """Record the alert and create/update/cancel its draft, in the caller's transaction."""
    previous = session.exec(
        select(AlertRecord).where(
            AlertRecord.source == alert.source,
            AlertRecord.sender == alert.sender,
            AlertRecord.identifier == alert.identifier,
        )
    ).first()
    if previous is not None:
        draft = session.get(EmergencyDraft, previous.draft_id) if previous.draft_id else None
        return AlertOutcome(previous, draft, "duplicate")
    exercise = alert.status is AlertStatus.exercise
    draft = _find_draft(session, alert.thread_keys)
    if exercise and exercise_policy == "ignore":
        outcome, draft = "ignored_exercise", None
    elif alert.msg_type is MessageType.cancel or alert.lifted:
        outcome = _cancel(draft, alert, now)
    elif draft is not None and _is_stale(draft, alert):
        outcome = "stale"
    else:
        matched = areas.match(alert.areas)
        if draft is None and not matched.districts:
            outcome = "outside_city"
        elif draft is None:
            draft = _create(session, alert, matched.districts, matched.unmapped, now)
            outcome = "draft_created"
        else:
            outcome = _update(draft, alert, matched.districts, matched.unmapped, now)
    if draft is not None:
        session.add(draft)
        session.flush()
        assert draft.id is not None
        _link_threads(session, alert, draft.id)
    record = AlertRecord(
        received_at=now,
        source=alert.source,
        identifier=alert.identifier,
        sender=alert.sender,
        sent_at=alert.sent,
        status=alert.raw_status,
        msg_type=alert.msg_type.value,
        outcome=outcome,
        draft_id=draft.id if draft else None,
        raw=raw,
    )
    session.add(record)
    session.flush()
    return AlertOutcome(record, draft, outcome)


def _find_draft(session: Session, keys: tuple[str, ...]) -> EmergencyDraft | None:
    thread = session.exec(select(DraftThread).where(DraftThread.key.in_(keys))).first()  # type: ignore[attr-defined]
    return session.get(EmergencyDraft, thread.draft_id) if thread else None


def _link_threads(session: Session, alert: ParsedAlert, draft_id: int) -> None:
    keys = set(alert.thread_keys)
    if alert.source == "cap":
        # A later update may reference this update rather than the first alert.
        keys.add(cap.thread_key(alert.sender, alert.identifier))
    for key in keys:
        if session.get(DraftThread, key) is None:
            session.add(DraftThread(key=key, draft_id=draft_id))


def _is_stale(draft: EmergencyDraft, alert: ParsedAlert) -> bool:
    if alert.serial is not None and draft.serial is not None:
        return alert.serial < draft.serial
    return alert.sent < draft.sent_at


def _event(alert: ParsedAlert, what: str, now: datetime) -> dict[str, object]:
    return {
        "at": now.isoformat(),
        "what": what,
        "identifier": alert.identifier,
        "sent": alert.sent.isoformat(),
        "msg_type": alert.msg_type.value,
    }


def _create(
    session: Session,
    alert: ParsedAlert,
    districts: tuple[str, ...],
    unmapped: tuple[str, ...],
    now: datetime,
) -> EmergencyDraft:
    draft = EmergencyDraft(
        source=alert.source,
        identifier=alert.identifier,
        sender=alert.sender,
        sent_at=alert.sent,
        serial=alert.serial,
        title=alert.title[:500],
        level=alert.level,
        kind=alert.kind,
        districts=list(districts),
        unmapped_areas=list(unmapped),
        text=alert.text,
        drill=alert.status is AlertStatus.exercise,
        history=[_event(alert, "created", now)],
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    return draft


def _update(
    draft: EmergencyDraft,
    alert: ParsedAlert,
    districts: tuple[str, ...],
    unmapped: tuple[str, ...],
    now: datetime,
) -> str:
    draft.history = [*draft.history, _event(alert, "updated", now)]
    draft.updated_at = now
    if draft.status != DraftStatus.open:
        draft.attention = (
            f"the feed updated this alert ({alert.identifier}) after it was "
            f"{draft.status}: check whether an update to emergency {draft.emergency_id} is needed"
        )
        return "attention"
    draft.identifier, draft.sent_at, draft.serial = alert.identifier, alert.sent, alert.serial
    draft.title = alert.title[:500] or draft.title
    draft.level = alert.level or draft.level
    draft.kind = alert.kind or draft.kind
    if districts:
        draft.districts = list(districts)
    draft.unmapped_areas = list(unmapped)
    draft.text = alert.text or draft.text
    draft.drill = draft.drill or alert.status is AlertStatus.exercise
    return "draft_updated"


def _cancel(draft: EmergencyDraft | None, alert: ParsedAlert, now: datetime) -> str:
    if draft is None:
        return "no_draft"
    what = "lifted" if alert.lifted else "cancelled"
    draft.history = [*draft.history, _event(alert, what, now)]
    draft.updated_at = now
    if draft.status == DraftStatus.open:
        draft.status = DraftStatus.cancelled
        return "draft_cancelled"
    if draft.status == DraftStatus.confirmed:
        advice = "send 解除 (lift)" if alert.lifted else "send a correction or 解除"
        draft.attention = (
            f"the feed {what} this alert ({alert.identifier}) after emergency "
            f"{draft.emergency_id} was sent: {advice}"
        )
        return "attention"
    return "draft_cancelled"
