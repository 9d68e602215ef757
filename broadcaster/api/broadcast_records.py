"""`GET /broadcasts/{id}` (with delivery progress) and `GET /broadcasts/{id}/deliveries`.

Another department's broadcast is answered 404, as if it did not exist. The deliveries
list is paged and shows masked LINE user ids only: full ids are personal data.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from broadcaster import ledger
from broadcaster.api.deps import SessionDep
from broadcaster.auth import CurrentActor
from broadcaster.broadcasts import Broadcast
from broadcaster.clock import utcnow
from broadcaster.db import table_of
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.errors import not_found
from broadcaster.inputs import Count, Id
from broadcaster.progress import broadcast_progress
from segments.residents import Resident, mask_user_id

router = APIRouter(tags=["broadcasts"])


def _visible(session: SessionDep, actor: CurrentActor, broadcast_id: Id) -> Broadcast:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or not actor.may_see(broadcast.department_id):
        raise not_found("broadcast", broadcast_id)
    return broadcast


@router.get("/broadcasts/{broadcast_id}", summary="A broadcast and its delivery progress")
def get_broadcast(broadcast_id: Id, session: SessionDep, actor: CurrentActor) -> dict[str, Any]:
    broadcast = _visible(session, actor, broadcast_id)
    body = broadcast.model_dump(mode="json")
    body["progress"] = broadcast_progress(session, broadcast_id)
    return body


@router.get("/broadcasts/{broadcast_id}/deliveries", summary="Who got it, one page at a time")
def list_deliveries(
    broadcast_id: Id,
    session: SessionDep,
    actor: CurrentActor,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[Count, Query(description="the last delivery id of the previous page")] = 0,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
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
        {
            "id": row.id,
            "resident": mask_user_id(row.line_user_id),
            "status": row.status,
            "accepted_at": row.accepted_at.isoformat() if row.accepted_at else None,
            "batch_id": row.batch_id,
            "error": row.error,
        }
        for row in rows
    ]
    return {"items": items, "next_after": items[-1]["id"] if len(items) == limit else None}
