"""まとめ配信 (digest): a resident's same-day non-urgent notices combined into one message.

Design (settings.frequency.digest_enabled, digest_time):
1. A broadcast created with `digest=True` gets a DigestEntry row. Emergencies never do.
2. When it comes due, it is *folded*, not sent: every resident of its audience (rule,
   opt-outs) gets a Delivery with status `digested`; the broadcast becomes `sent` with the
   reason "folded into the digest"; no batch, no LINE quota.
3. At digest_time, every entry folded before today's digest_time and not yet carried is
   gathered. Residents are grouped by the exact set of notices they got; each distinct set
   becomes one `kind=digest` broadcast (created through `create_broadcast`, so it is
   validated and audited like any other) whose audience is exactly the residents with that
   set. It renders templates/digest.<lang>.j2 if the render area ships one, else the
   built-in Japanese text below, with `items` = each notice's title and its text rendered
   for the resident's context (language, district, ...). Caps apply to the digest as one
   message.

Limits: a notice due after digest_time waits for the next day's digest; non-text message
objects of a notice (images, flex) are represented by their altText or left out; a digest
created for a set is never re-split if a resident unfollows in between (the audience is
re-read at send time, so they are simply not sent to).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import object_session
from sqlmodel import Field, Session, SQLModel, col, select

from broadcaster import lifecycle, policies
from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.broadcasts import Broadcast, BroadcastKind
from broadcaster.db import UTCDateTime, table_of
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.planning import audience_for
from broadcaster.policies import Limit, Policy, Subject, exempt
from broadcaster.render import PreparedTemplate, Renderer, TemplateError
from broadcaster.settings import Settings
from segments.audience import audience_filter
from segments.residents import Resident

log = logging.getLogger(__name__)

DIGEST_TEMPLATE = "digest"
DIGEST_ACTOR = "digest"
# Used when templates/ has no digest.ja.j2. Resident-facing, so Japanese.
BUILTIN_TEXT = (
    "【{{ digest_date|datelabel('ja') }}のまとめ】"
    "市からのお知らせが{{ items|length }}件あります。\n"
    "{% for item in items %}\n■ {{ item.title }}\n{{ item.text }}\n{% endfor %}"
)
MAX_ITEM_TEXT = 900
DELIVERY: sa.Table = table_of(Delivery)
RESIDENT: sa.Table = table_of(Resident)
BROADCAST: sa.Table = table_of(Broadcast)


class DigestEntry(SQLModel, table=True):
    """A broadcast held for the digest; `digest_id` is the digest that carried it."""

    __tablename__ = "digest_entry"

    broadcast_id: int = Field(foreign_key="broadcast.id", primary_key=True)
    folded_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    digest_id: int | None = Field(default=None, foreign_key="broadcast.id", index=True)


def mark_for_digest(session: Session, broadcast: Broadcast) -> None:
    assert broadcast.id is not None, "flush the broadcast first"
    if session.get(DigestEntry, broadcast.id) is None:
        session.add(DigestEntry(broadcast_id=broadcast.id))


def unmark(session: Session, broadcast: Broadcast) -> None:
    entry = session.get(DigestEntry, broadcast.id)
    if entry is not None:
        session.delete(entry)


def is_marked(broadcast: Broadcast) -> bool:
    session = object_session(broadcast)
    if session is None or broadcast.id is None:
        return False
    return session.get(DigestEntry, broadcast.id) is not None


def fold_if_marked(
    session: Session, broadcast: Broadcast, settings: Settings, now: datetime
) -> bool:
    """Fold a due digest broadcast: `digested` deliveries, status sent. False if not marked."""
    entry = session.get(DigestEntry, broadcast.id)
    if entry is None or entry.folded_at is not None:
        return False
    assert broadcast.id is not None
    if not lifecycle.fold(
        session,
        broadcast.id,
        now,
        reason="folded into the digest (まとめ配信)",
        values={"dispatched_at": now, "started_at": now},
    ):
        return False
    residents = sa.select(
        sa.literal(broadcast.id),
        RESIDENT.c.id,
        sa.literal(DeliveryStatus.digested.value),
    ).where(audience_for(broadcast, settings))
    inserted = (
        session.connection()
        .execute(
            sa.insert(DELIVERY).from_select(["broadcast_id", "resident_id", "status"], residents)
        )
        .rowcount
    )
    session.connection().execute(
        sa.update(BROADCAST).where(BROADCAST.c.id == broadcast.id).values(recipients_total=inserted)
    )
    entry.folded_at = now
    session.add(entry)
    session.refresh(broadcast)
    return True


class DigestHold:
    """The digest as the core's `policies.Hold`: marked at creation, folded when due."""

    def mark(self, session: Session, broadcast: Broadcast) -> None:
        mark_for_digest(session, broadcast)

    def unmark(self, session: Session, broadcast: Broadcast) -> None:
        unmark(session, broadcast)

    def is_marked(self, broadcast: Broadcast) -> bool:
        return is_marked(broadcast)

    def take(
        self, session: Session, broadcast: Broadcast, settings: Settings, now: datetime
    ) -> bool:
        return fold_if_marked(session, broadcast, settings, now)

    def check(self, subject: Subject, settings: Settings) -> str | None:
        if not settings.frequency.digest_enabled:
            return "digest delivery is off (frequency.digest_enabled)"
        if exempt(subject, Limit.cap):
            return "an emergency is never held for the digest"
        return None


def register() -> None:
    """The digest's part of the policy registry: its kind, its hold and its tick."""
    policies.register(
        Policy(
            kind=BroadcastKind.digest,
            audience=digest_where,
            rendering=lambda session, broadcast, renderer: digest_render(
                broadcast, session, renderer
            ),
        )
    )
    policies.register_hold(DigestHold())
    policies.register_tick("digest", dispatch_digests)


def _digest_moment(now: datetime, settings: Settings) -> datetime:
    local = now.astimezone(settings.tz)
    return datetime.combine(local.date(), settings.frequency.digest_time, tzinfo=settings.tz)


def dispatch_digests(engine: Engine, settings: Settings, renderer: Renderer, now: datetime) -> int:
    """At or after today's digest_time, create the digests for what was folded before it.

    Returns how many digest broadcasts were created (they are then sent by the next tick,
    through the normal path). Idempotent: carried entries are marked in the same transaction.
    """
    if not settings.frequency.digest_enabled:
        return 0
    moment = _digest_moment(now, settings)
    if now < moment:
        return 0
    with Session(engine, expire_on_commit=False) as session:
        entries = session.exec(
            select(DigestEntry).where(
                col(DigestEntry.folded_at).is_not(None),
                col(DigestEntry.folded_at) < moment,
                col(DigestEntry.digest_id).is_(None),
            )
        ).all()
        if not entries:
            return 0
        ids = sorted(entry.broadcast_id for entry in entries)
        if not _claim_entries(session, ids):
            session.rollback()  # another replica is making (or made) these digests
            return 0
        rows = (
            session.connection()
            .execute(
                sa.select(
                    DELIVERY.c.resident_id,
                    DELIVERY.c.broadcast_id,
                ).where(
                    DELIVERY.c.broadcast_id.in_(ids),
                    DELIVERY.c.status == DeliveryStatus.digested.value,
                )
            )
            .all()
        )
        sets: dict[int, set[int]] = {}
        for resident_id, broadcast_id in rows:
            sets.setdefault(resident_id, set()).add(broadcast_id)
        combinations = sorted({tuple(sorted(items)) for items in sets.values()})
        day = moment.date()
        carried_by: dict[int, int] = {}
        for combination in combinations:
            first = session.get(Broadcast, combination[0])
            assert first is not None
            request = BroadcastRequest(
                title=f"まとめ配信 {day:%Y-%m-%d}",
                category=first.category,
                template_text=BUILTIN_TEXT,
                parameters=_sample_parameters(session, combination, day),
                send_at=now,
                kind=BroadcastKind.digest,
                source={"digest_of": list(combination), "gathered": ids, "day": day.isoformat()},
            )
            if DIGEST_TEMPLATE in renderer.templates():
                request = replace(request, template_name=DIGEST_TEMPLATE, template_text=None)
            digest = create_broadcast(
                session, DIGEST_ACTOR, first.department_id, request, settings, renderer, now
            )
            assert digest.id is not None
            for item in combination:
                carried_by.setdefault(item, digest.id)
        for entry in entries:
            # An item nobody received (all opted out) is carried by no digest: it points at
            # itself so it is not gathered again.
            entry.digest_id = carried_by.get(entry.broadcast_id, entry.broadcast_id)
            session.add(entry)
        session.commit()
    return len(combinations)


def _claim_entries(session: Session, ids: list[int]) -> bool:
    """Claim the entries for this run, conditionally: each is taken only if no digest
    carries it yet (pointing at itself until the digests exist, in this transaction). A
    second replica gathering at once waits on the rows, then finds them taken; the row
    count decides, so no resident gets one day's digest twice."""
    entry = table_of(DigestEntry)
    taken = session.connection().execute(
        sa.update(entry)
        .where(entry.c.broadcast_id.in_(ids), entry.c.digest_id.is_(None))
        .values(digest_id=entry.c.broadcast_id)
    )
    return taken.rowcount == len(ids)


def _sample_parameters(session: Session, combination: tuple[int, ...], day: Any) -> dict[str, Any]:
    """Parameters for validation at creation: the titles, with placeholder texts."""
    items = []
    for broadcast_id in combination:
        item = session.get(Broadcast, broadcast_id)
        assert item is not None
        items.append({"id": broadcast_id, "title": item.title, "text": "…"})
    return {"digest_date": day.isoformat(), "items": items}


def digest_audience(broadcast: Broadcast) -> sa.ColumnElement[bool]:
    """Residents whose digested notices are exactly the digest's set."""
    source = broadcast.source or {}
    wanted = [int(item) for item in source.get("digest_of", [])]
    delivery = DELIVERY
    resident_id = RESIDENT.c.id

    def got(item_ids: list[int]) -> sa.ColumnElement[bool]:
        return sa.exists().where(
            delivery.c.resident_id == resident_id,
            delivery.c.broadcast_id.in_(item_ids),
            delivery.c.status == DeliveryStatus.digested.value,
        )

    clauses = [got([item]) for item in wanted]
    others = [int(item) for item in source.get("gathered", []) if int(item) not in wanted]
    if others:
        clauses.append(~got(others))
    return sa.and_(*clauses)


def digest_where(broadcast: Broadcast, settings: Settings) -> sa.ColumnElement[bool]:
    """A digest's audience: following residents whose digested notices are its set (their
    opt-outs were applied to each notice when it was folded)."""
    on = broadcast.send_at.astimezone(settings.tz).date()
    return sa.and_(audience_filter(None, on=on, category=None), digest_audience(broadcast))


def digest_render(
    broadcast: Broadcast, session: Session, renderer: Renderer
) -> tuple[tuple[str, ...], Any]:
    """(context fields, render) for a digest: each item rendered for the resident's context."""
    source = broadcast.source or {}
    items: list[tuple[str, PreparedTemplate]] = []
    for item_id in source.get("digest_of", []):
        item = session.get(Broadcast, int(item_id))
        if item is None:
            continue
        items.append(
            (
                item.title,
                renderer.prepare(
                    template_name=item.template_name,
                    template_text=item.template_text,
                    parameters=item.parameters,
                ),
            )
        )
    fields = {"language"}
    for _, prepared in items:
        fields |= set(prepared.resident_fields)
    cache: dict[str, PreparedTemplate] = {}

    def render(resident: Mapping[str, Any]) -> list[dict[str, Any]]:
        texts = [
            {"title": title, "text": _text_of(prepared.render(resident))[:MAX_ITEM_TEXT]}
            for title, prepared in items
        ]
        parameters = {**broadcast.parameters, "items": texts}
        key = json.dumps(parameters, ensure_ascii=False, sort_keys=True, default=str)
        digest = cache.get(key)
        if digest is None:
            try:
                digest = renderer.prepare(
                    template_name=broadcast.template_name,
                    template_text=broadcast.template_text,
                    parameters=parameters,
                )
            except TemplateError:
                digest = renderer.prepare(
                    template_name=None, template_text=BUILTIN_TEXT, parameters=parameters
                )
            cache[key] = digest
        return digest.render(resident)

    return tuple(sorted(fields)), render


def _text_of(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        if message.get("type") == "text":
            parts.append(str(message.get("text", "")))
        elif message.get("altText"):
            parts.append(str(message["altText"]))
    return "\n".join(parts)
