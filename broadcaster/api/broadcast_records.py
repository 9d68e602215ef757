"""`GET /broadcasts/{id}` (with delivery progress) and `GET /broadcasts/{id}/deliveries`.

Another department's broadcast is answered 404, as if it did not exist. The deliveries
list is paged and shows masked LINE user ids only: full ids are personal data.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from broadcaster import ledger
from broadcaster.api.broadcasts import public
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.auth import CurrentActor
from broadcaster.broadcasts import Broadcast, BroadcastPublic
from broadcaster.clock import utcnow
from broadcaster.db import table_of
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.errors import not_found
from broadcaster.inputs import Count, Id
from broadcaster.progress import broadcast_progress
from broadcaster.timestamps import CityTimestamp
from segments.residents import Resident, mask_user_id

router = APIRouter(tags=["broadcasts"])


class Progress(BaseModel):
    """Where a broadcast's sending is (see `broadcaster.progress.broadcast_progress`)."""

    status: str
    recipients_total: int
    dispatch_complete: bool
    deliveries: dict[str, int] = Field(description="residents by delivery status")
    batches: dict[str, int] = Field(description="LINE requests by batch status")
    progress: float = Field(description="the fraction of deliveries settled, 0 to 1")
    started_at: CityTimestamp | None
    dispatched_at: CityTimestamp | None
    finished_at: CityTimestamp | None
    renderings: int | None
    skipped_over_cap: int
    quota_consumed: int
    needs_attention: bool = Field(description="some deliveries' outcome is unknown")
    status_reason: str | None


class BroadcastRecord(BroadcastPublic):
    """A broadcast as the API shows it, with its delivery progress."""

    progress: Progress


class DeliveryPublic(BaseModel):
    id: int
    resident: str = Field(description="masked LINE user id")
    status: str
    accepted_at: CityTimestamp | None
    batch_id: int | None
    error: str | None


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    next_after: int | None = Field(description="`after` for the next page; null on the last")


def _visible(session: SessionDep, actor: CurrentActor, broadcast_id: Id) -> Broadcast:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or not actor.may_see(broadcast.department_id):
        raise not_found("broadcast", broadcast_id)
    return broadcast


@router.get("/broadcasts/{broadcast_id}", summary="A broadcast and its delivery progress")
def get_broadcast(
    broadcast_id: Id, session: SessionDep, settings: SettingsDep, actor: CurrentActor
) -> BroadcastRecord:
    broadcast = _visible(session, actor, broadcast_id)
    return BroadcastRecord(
        **public(broadcast, settings).model_dump(),
        progress=Progress.model_validate(broadcast_progress(session, broadcast_id)),
    )


@router.get("/broadcasts/{broadcast_id}/deliveries", summary="Who got it, one page at a time")
def list_deliveries(
    broadcast_id: Id,
    session: SessionDep,
    actor: CurrentActor,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[Count, Query(description="the last delivery id of the previous page")] = 0,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> DeliveryPage:
    _visible(session, actor, broadcast_id)
    # Rows of batches still being sent are written now (see `ledger`); later pages see
    # them too, as their ids come after every row written before.
    if ledger.catch_up(session, utcnow(), [broadcast_id]):
        session.commit()
    delivery = table_of(Delivery)
    resident = table_of(Resident)
    query = (
        sa.select(
            delivery.c.id,
            delivery.c.status,
            delivery.c.accepted_at,
            delivery.c.error,
            delivery.c.batch_id,
            resident.c.line_user_id,
        )
        .join(resident, resident.c.id == delivery.c.resident_id)
        .where(delivery.c.broadcast_id == broadcast_id, delivery.c.id > after)
        .order_by(delivery.c.id)
        .limit(limit)
    )
    if delivery_status is not None:
        query = query.where(delivery.c.status == delivery_status.value)
    rows = session.connection().execute(query).all()
    items = [
        DeliveryPublic(
            id=row.id,
            resident=mask_user_id(row.line_user_id),
            status=row.status,
            accepted_at=row.accepted_at,
            batch_id=row.batch_id,
            error=row.error,
        )
        for row in rows
    ]
    return DeliveryPage(items=items, next_after=items[-1].id if len(items) == limit else None)
