"""Alerts from the feeds become drafts for the disaster desk; nothing here sends.

An alert never reaches residents on its own: it makes (or updates, or cancels) a draft with
level, disaster kind, districts and text prefilled, and a person confirms it in one call.
Exercise and test alerts (CAP Exercise/Test/System/Draft, JMA 訓練/試験) make drafts marked
as drills, which can only ever be sent as 【訓練】, or are recorded and ignored
(`emergency.exercise_alerts = "ignore"`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcaster.emergency import cap
from broadcaster.emergency.alert import CAP_NS, JMA_NS, AlertStatus, MessageType, ParsedAlert
from broadcaster.emergency.areas import AreaMap
from broadcaster.emergency.models import (
    AlertRecord,
    DraftStatus,
    DraftThread,
    Emergency,
    EmergencyDraft,
    EmergencyStatus,
)
from broadcaster.settings import Settings

Outcome = Literal[
    "draft_created",
    "draft_updated",
    "draft_cancelled",
    "information",
    "attention",
    "duplicate",
    "stale",
    "ignored_exercise",
    "outside_city",
    "not_acted_on",
    "no_draft",
    "refused",
]
# Below this 警戒レベル a warning proposes no order (注意報 are level 2).
ORDER_LEVEL = 3


@dataclass(frozen=True)
class AlertOutcome:
    record: AlertRecord
    draft: EmergencyDraft | None
    outcome: str


@dataclass(frozen=True)
class _Proposal:
    """What the alert proposes for our districts, after its areas were matched."""

    level: int | None
    kind: str | None
    districts: tuple[str, ...]
    unmapped: tuple[str, ...]
    keys: tuple[str, ...]
    information: bool
    reason: str | None = None


def _propose(alert: ParsedAlert, areas: AreaMap) -> _Proposal:
    if not alert.entries:
        matched = areas.match(alert.areas)
        return _Proposal(
            alert.level,
            alert.kind,
            matched.districts,
            matched.unmapped,
            alert.thread_keys,
            alert.information or alert.level is None,
        )
    ours = [(e, areas.match([e.area]).districts) for e in alert.entries]
    in_city = [(e, d) for e, d in ours if d]
    unmapped = areas.match(e.area for e, d in ours if not d).unmapped
    keys = (*alert.thread_keys, *dict.fromkeys(e.thread for e, _ in in_city))
    orders = [(e, d) for e, d in in_city if e.active and (e.level or 0) >= ORDER_LEVEL]
    notices = [(e, d) for e, d in in_city if e.active and e.level is None]
    chosen = orders or notices
    districts = {district for _, d in chosen for district in d}
    top = max((e for e, _ in chosen), key=lambda e: e.level or 0, default=None)
    reason = None
    if in_city and not chosen:
        reason = "only advisories (レベル2) or lifted warnings in our areas"
    return _Proposal(
        top.level if top else None,
        top.kind if top else None,
        tuple(sorted(districts, key=areas.position)),
        unmapped,
        keys,
        bool(notices) and not orders,
        reason,
    )


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
    proposal = _propose(alert, areas)
    draft = _find_draft(session, proposal.keys, reusable_only=bool(alert.entries))
    reason = proposal.reason
    if alert.not_acted_on:
        outcome, draft, reason = "not_acted_on", None, alert.not_acted_on
    elif exercise and exercise_policy == "ignore":
        outcome, draft = "ignored_exercise", None
    elif alert.msg_type is MessageType.cancel:
        outcome = _cancel(draft, alert, now, lifted=False)
    elif draft is not None and _is_stale(draft, alert):
        outcome = "stale"
    elif alert.entries and proposal.level is None and not _still_information(proposal, draft):
        # Nothing in force in our areas any more (or only information where an order was
        # proposed): the feed lifted what the draft proposed.
        if draft is not None:
            outcome = _cancel(draft, alert, now, lifted=True)
        elif reason:
            outcome = "not_acted_on"
        else:
            outcome, reason = "outside_city", "no area of the report is one of ours"
    elif draft is None and not proposal.districts:
        outcome = "outside_city"
        reason = "no area of the alert is one of ours: " + ", ".join(proposal.unmapped)
    elif draft is None:
        draft = _create(session, alert, proposal, now)
        outcome = "information" if proposal.information else "draft_created"
    else:
        outcome = _update(draft, alert, proposal, now)
    if draft is not None:
        session.add(draft)
        session.flush()
        assert draft.id is not None
        _link_threads(session, alert, proposal.keys, draft.id)
    record = AlertRecord(
        received_at=now,
        source=alert.source,
        identifier=alert.identifier,
        sender=alert.sender,
        sent_at=alert.sent,
        status=alert.raw_status,
        msg_type=alert.msg_type.value,
        title=alert.report_type[:200],
        outcome=outcome,
        reason=reason,
        draft_id=draft.id if draft else None,
        raw=raw,
    )
    session.add(record)
    session.flush()
    return AlertOutcome(record, draft, outcome)


def receive(
    engine: Engine, settings: Settings, alert: ParsedAlert, data: bytes, now: datetime
) -> AlertOutcome:
    """Apply a parsed document in its own transaction (the API and the feed poller)."""
    areas = AreaMap(settings.emergency.area_districts, settings.residents.districts)
    with Session(engine, expire_on_commit=False) as session:
        result = apply_alert(
            session,
            alert,
            data.decode("utf-8", errors="replace"),
            areas,
            settings.emergency.exercise_alerts,
            now,
        )
        session.commit()
        return result


def _still_information(proposal: _Proposal, draft: EmergencyDraft | None) -> bool:
    return proposal.information and (draft is None or draft.information)


def record_refusal(session: Session, data: bytes, reason: str, now: datetime) -> AlertRecord:
    """A document we refused, kept with the reason so the desk learns a feed was missed.
    The same bytes refused twice are one record."""
    digest = "sha256:" + hashlib.sha256(data + reason.encode()).hexdigest()
    existing = session.exec(
        select(AlertRecord).where(AlertRecord.identifier == digest, AlertRecord.sender == "")
    ).first()
    if existing is not None:
        return existing
    head = data[:400]
    source = "cap" if CAP_NS.encode() in head else "jma" if JMA_NS.encode() in head else "unknown"
    record = AlertRecord(
        received_at=now,
        source=source,
        identifier=digest,
        sender="",
        sent_at=now,
        status="",
        msg_type="",
        outcome="refused",
        reason=reason,
        raw=data.decode("utf-8", errors="replace"),
    )
    session.add(record)
    session.flush()
    return record


def _find_draft(
    session: Session, keys: tuple[str, ...], *, reusable_only: bool
) -> EmergencyDraft | None:
    """The newest draft on one of the threads. Area threads (JMA reports without EventID)
    skip drafts whose event is over, so next week's warning makes a new draft."""
    if not keys:
        return None
    threads = session.exec(select(DraftThread).where(col(DraftThread.key).in_(keys))).all()
    ids = sorted({t.draft_id for t in threads}, reverse=True)
    for draft_id in ids:
        draft = session.get(EmergencyDraft, draft_id)
        if draft is None:
            continue
        if reusable_only and not _ongoing(session, draft):
            continue
        return draft
    return None


def _ongoing(session: Session, draft: EmergencyDraft) -> bool:
    if draft.status == DraftStatus.cancelled:
        return False
    if draft.status == DraftStatus.confirmed and draft.emergency_id is not None:
        emergency = session.get(Emergency, draft.emergency_id)
        return emergency is not None and emergency.status == EmergencyStatus.active
    return True


def _link_threads(
    session: Session, alert: ParsedAlert, keys: tuple[str, ...], draft_id: int
) -> None:
    wanted = set(keys)
    if alert.source == "cap":
        # A later update may reference this update rather than the first alert.
        wanted.add(cap.thread_key(alert.sender, alert.identifier))
    for key in wanted:
        thread = session.get(DraftThread, key)
        if thread is None:
            session.add(DraftThread(key=key, draft_id=draft_id))
        elif thread.draft_id != draft_id:
            thread.draft_id = draft_id  # the thread's earlier event is over
            session.add(thread)


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
    session: Session, alert: ParsedAlert, proposal: _Proposal, now: datetime
) -> EmergencyDraft:
    draft = EmergencyDraft(
        source=alert.source,
        identifier=alert.identifier,
        sender=alert.sender,
        sent_at=alert.sent,
        serial=alert.serial,
        title=alert.title[:500],
        level=proposal.level,
        kind=proposal.kind,
        information=proposal.information,
        districts=list(proposal.districts),
        unmapped_areas=list(proposal.unmapped),
        text=_text(alert),
        drill=alert.status is AlertStatus.exercise,
        history=[_event(alert, "created", now)],
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    return draft


def _text(alert: ParsedAlert) -> str:
    """The feed's text as relayed, with its credit (JMA: 「出典：気象庁ホームページ」)."""
    if not alert.text:
        return ""
    return "\n".join((alert.text, *(f"（{note}）" for note in alert.notes)))


def _update(draft: EmergencyDraft, alert: ParsedAlert, proposal: _Proposal, now: datetime) -> str:
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
    if alert.entries:
        # A JMA report states the whole situation in its areas: take it as it is.
        draft.level, draft.kind = proposal.level, proposal.kind or draft.kind
        draft.information = proposal.information
    else:
        draft.level = proposal.level or draft.level
        draft.kind = proposal.kind or draft.kind
        draft.information = draft.information and proposal.information
    if proposal.districts:
        draft.districts = list(proposal.districts)
    draft.unmapped_areas = list(proposal.unmapped)
    draft.text = _text(alert) if alert.text else draft.text
    draft.drill = draft.drill or alert.status is AlertStatus.exercise
    return "draft_updated"


def _cancel(
    draft: EmergencyDraft | None, alert: ParsedAlert, now: datetime, *, lifted: bool
) -> str:
    if draft is None:
        return "no_draft"
    what = "lifted" if lifted else "cancelled"
    draft.history = [*draft.history, _event(alert, what, now)]
    draft.updated_at = now
    if draft.status == DraftStatus.open:
        draft.status = DraftStatus.cancelled
        return "draft_cancelled"
    if draft.status == DraftStatus.confirmed:
        advice = "send 解除 (lift)" if lifted else "send a correction or 解除"
        draft.attention = (
            f"the feed {what} this alert ({alert.identifier}) after emergency "
            f"{draft.emergency_id} was sent: {advice}"
        )
        return "attention"
    return "draft_cancelled"
