"""What `/api/v1/emergencies` answers: an order with its broadcasts and their progress,
how far a send got, a dry run's counts, and a draft made from an alert feed.

Shared by the order routes (`broadcaster.api.emergencies`), the draft routes
(`broadcaster.api.emergency_drafts`) and the alert inbox (`broadcaster.api.alerts`), so
each shows an order or a draft the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlmodel import Session

from broadcaster.emergency.models import Emergency, EmergencyDraft
from broadcaster.emergency.order_requests import level_label
from broadcaster.emergency.orders import order_broadcasts
from broadcaster.progress import delivery_counts
from broadcaster.timestamps import CityTimestamp


class Sent(BaseModel):
    """How far an order's sending got by the time of the answer (see
    `broadcaster.api.emergencies.send`)."""

    dispatch: Literal["done", "queued"] = Field(
        description="done: its outbox is written; queued: being written"
    )
    recipients: int = Field(description="recipients queued so far")


class EmergencyBroadcast(BaseModel):
    id: int
    title: str
    status: str
    follow_up: bool = Field(description="an update or 解除, not the order itself")
    deliveries: dict[str, int] = Field(description="residents by delivery status")


class EmergencyPublic(BaseModel):
    """An order as the desk sees it, with its broadcasts (the order and its follow-ups)."""

    id: int
    level: int
    level_label: str
    kind: str
    districts: list[str]
    text: str
    texts: dict[str, str]
    drill: bool
    hold_routine: bool
    status: str
    draft_id: int | None
    created_by: str
    created_at: CityTimestamp
    lifted_at: CityTimestamp | None
    broadcasts: list[EmergencyBroadcast]


class EmergencySent(EmergencyPublic, Sent):
    """A new order (or a confirmed draft) and how far its sending got."""


class FollowUpSent(Sent):
    emergency_id: int
    broadcast_id: int


class DistrictCount(BaseModel):
    total: int
    languages: dict[str, int]
    warnings: list[str]


class DryRun(BaseModel):
    """What an order would reach and what would be shown in Japanese; nothing is sent."""

    dry_run: Literal[True]
    total: int
    districts: dict[str, DistrictCount]
    warnings: list[str]


class EmergencyCounts(BaseModel):
    live: int
    drill: int


class EmergencyList(BaseModel):
    drill: bool
    counts: EmergencyCounts
    emergencies: list[EmergencyPublic]


class DraftPublic(BaseModel):
    """A draft made from an alert feed, prefilled for the desk to confirm."""

    id: int
    status: str
    source: str
    identifier: str
    sender: str
    sent_at: CityTimestamp
    serial: int | None
    title: str
    level: int | None
    level_label: str | None
    kind: str | None
    information: bool
    districts: list[str]
    unmapped_areas: list[str]
    text: str
    drill: bool
    emergency_id: int | None
    attention: str | None
    history: list[dict[str, Any]]
    created_at: CityTimestamp
    updated_at: CityTimestamp


class DraftList(BaseModel):
    drafts: list[DraftPublic]


def emergency_public(session: Session, emergency: Emergency) -> EmergencyPublic:
    broadcasts = order_broadcasts(session, emergency)
    return EmergencyPublic.model_validate({
        "id": emergency.id,
        "level": emergency.level,
        "level_label": level_label(emergency.level),
        "kind": emergency.kind,
        "districts": emergency.districts,
        "text": emergency.text,
        "texts": emergency.texts,
        "drill": emergency.drill,
        "hold_routine": emergency.hold_routine,
        "status": emergency.status,
        "draft_id": emergency.draft_id,
        "created_by": emergency.created_by,
        "created_at": emergency.created_at,
        "lifted_at": emergency.lifted_at,
        "broadcasts": [
            {
                "id": b.id,
                "title": b.title,
                "status": b.status,
                "follow_up": b.id != emergency.broadcast_id,
                "deliveries": delivery_counts(session, b.id) if b.id is not None else {},
            }
            for b in broadcasts
        ],
    })


def draft_public(draft: EmergencyDraft) -> DraftPublic:
    return DraftPublic.model_validate({
        **draft.model_dump(),
        "level_label": level_label(draft.level) if draft.level else None,
    })

