"""Benefit notices (プッシュ型通知): tell every eligible follower once per program.

`notify` writes, in one transaction, the broadcast and one BenefitNotification per resident
it will carry (INSERT ... SELECT ... ON CONFLICT DO NOTHING on the unique (program,
resident) pair), then dispatches that broadcast to exactly those rows. A second run, or a
concurrent one, finds the pairs taken and notifies only residents who became eligible since
(e.g. after a resident import).

Decisions:
- Benefit notices are normal priority: they respect quiet hours (create_broadcast refuses a
  notify inside them, naming the next allowed time) and opt-outs of the "benefits" category.
- They are not subject to the frequency cap: the notification row is the promise that the
  resident was told, so a notice is never recorded and then skipped for the cap.
- The notice is created scheduled for now and goes through the one dispatch path: the
  caller dispatches it at once, and should that not happen (a crash between commit and
  dispatch), the scheduler's next tick does.

`register` gives the core the benefit policy: the audience is exactly the residents
recorded as notified with the broadcast (never its rule again), exempt from the cap.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from broadcaster import ledger, outbox, policies
from broadcaster.benefits.models import BenefitNotification, BenefitProgram
from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.broadcasts import Broadcast, BroadcastKind, BroadcastStatus
from broadcaster.clock import utcnow
from broadcaster.db import UTCDateTime
from broadcaster.deliveries import Delivery
from broadcaster.dispatch import dispatch_broadcast
from broadcaster.errors import Conflict
from broadcaster.policies import Limit, Policy
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from segments.audience import audience_filter
from segments.compiler import compile_rule
from segments.fields import FieldCatalog
from segments.residents import Resident
from segments.rule_parser import parse_rule
from segments.rules import Rule

CATEGORY = "benefits"
TEMPLATE = "benefit_notice"


@dataclass(frozen=True)
class NotifyResult:
    broadcast: Broadcast | None
    notified: int


def program_rule(program: BenefitProgram, settings: Settings) -> Rule:
    return parse_rule(program.rule, FieldCatalog.from_settings(settings.residents))


def template_parameters(program: BenefitProgram) -> dict[str, Any]:
    """The benefit_notice template's names: benefit_name, deadline and the program's own
    parameters (details, how_to_apply, contact, amount, ...)."""
    return {
        **program.parameters,
        "benefit_name": program.name,
        "deadline": program.deadline.isoformat() if program.deadline else "",
    }


def _already(program_id: int) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        col(BenefitNotification.program_id) == program_id,
        col(BenefitNotification.resident_id) == col(Resident.id),
    )


def notify(
    session: Session,
    program: BenefitProgram,
    actor_label: str,
    department_id: int,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> NotifyResult:
    """Record and create the notice for residents not yet told (committed), or nothing.

    Raises broadcast_requests.BroadcastRefused (quiet hours, template) with nothing written. The
    caller dispatches the returned broadcast with `dispatch_notice`.
    """
    assert program.id is not None
    on = now.astimezone(settings.tz).date()
    eligible = audience_filter(
        program_rule(program, settings), on=on, category=CATEGORY, respect_opt_outs=True
    )
    request = BroadcastRequest(
        title=f"{program.name}のお知らせ"[:200],
        category=CATEGORY,
        template_name=TEMPLATE,
        parameters=template_parameters(program),
        rule=program.rule,
        kind=BroadcastKind.benefit,
        source={"benefit_program_id": program.id},
    )
    broadcast = create_broadcast(
        session, actor_label, department_id, request, settings, renderer, now
    )
    chosen = sa.select(
        sa.literal(program.id),
        col(Resident.id),
        sa.literal(broadcast.id),
        sa.literal(now, UTCDateTime()),
    ).where(eligible, ~_already(program.id))
    dialect = session.get_bind().dialect.name
    insert: Any = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    table: sa.Table = BenefitNotification.__table__  # type: ignore[attr-defined]
    statement = (
        insert(table)
        .from_select(["program_id", "resident_id", "broadcast_id", "notified_at"], chosen)
        .on_conflict_do_nothing(index_elements=["program_id", "resident_id"])
        .returning(col(BenefitNotification.resident_id))
    )
    # RETURNING counts what this run inserted on every engine (rowcount is -1 on psycopg).
    notified = len(session.connection().execute(statement).all())
    if notified == 0:
        session.rollback()
        return NotifyResult(None, 0)
    broadcast.recipients_total = notified
    session.add(broadcast)
    session.commit()
    return NotifyResult(broadcast, notified)


@dataclass(frozen=True)
class NotifyRun:
    notified: int
    broadcast_id: int | None
    batches: int
    resumed: int


def notify_and_send(
    session: Session,
    program: BenefitProgram,
    actor_label: str,
    department_id: int,
    settings: Settings,
    renderer: Renderer,
    now: datetime,
) -> NotifyRun:
    """What "notify" means to staff (the API and the console both call this): finish any
    notice of this program a crash left undispatched, record the residents not yet told,
    and send them the notice. Raises Conflict when a concurrent notify holds the pairs,
    BroadcastRefused (quiet hours, template) with nothing written."""
    assert program.id is not None
    resumed = 0
    for broadcast in unfinished(session, program.id):
        dispatch_notice(session, broadcast, settings, renderer, now)
        resumed += 1
    try:
        result = notify(session, program, actor_label, department_id, settings, renderer, now)
    except IntegrityError:
        # A concurrent notify on a database without ON CONFLICT semantics for this race:
        # nothing of ours was written; running again notifies whoever is left.
        session.rollback()
        raise Conflict("benefit_program.notify_running") from None
    batches = 0
    if result.broadcast is not None:
        batches = dispatch_notice(session, result.broadcast, settings, renderer, now).batches
    return NotifyRun(
        result.notified,
        result.broadcast.id if result.broadcast else None,
        batches,
        resumed,
    )


def unfinished(session: Session, program_id: int) -> list[Broadcast]:
    """This program's notices recorded but not fully dispatched (a crash between commit and
    dispatch): notify finishes them before recording new ones."""
    rows = session.exec(
        select(Broadcast).where(
            col(Broadcast.kind) == BroadcastKind.benefit,
            col(Broadcast.status).in_([BroadcastStatus.scheduled, BroadcastStatus.sending]),
            col(Broadcast.dispatched_at).is_(None),
            col(Broadcast.id).in_(
                sa.select(col(BenefitNotification.broadcast_id)).where(
                    col(BenefitNotification.program_id) == program_id
                )
            ),
        )
    ).all()
    return list(rows)


def dispatch_notice(
    session: Session, broadcast: Broadcast, settings: Settings, renderer: Renderer, now: datetime
) -> outbox.DispatchResult:
    """Send the notice (committed) to exactly the residents recorded for it, through the one
    dispatch path; one a crash interrupted is finished. Nothing when another took it."""
    assert broadcast.id is not None
    result = dispatch_broadcast(
        session.get_bind(), broadcast.id, settings, renderer, now, resume=True
    )
    session.refresh(broadcast)
    return result or outbox.DispatchResult()


def recorded_audience(broadcast: Broadcast, settings: Settings) -> sa.ColumnElement[bool]:
    """Exactly the residents recorded as notified with this broadcast, still following:
    a resumed dispatch must not reach someone an earlier notice already told."""
    on = broadcast.send_at.astimezone(settings.tz).date()
    recorded = sa.select(col(BenefitNotification.resident_id)).where(
        col(BenefitNotification.broadcast_id) == broadcast.id
    )
    return sa.and_(audience_filter(None, on=on, category=None), col(Resident.id).in_(recorded))


def register() -> None:
    """The benefit policy: the recorded audience; never skipped for the cap, because the
    notification row promises the resident was told."""
    policies.register(
        Policy(
            kind=BroadcastKind.benefit,
            audience=recorded_audience,
            exempt_from=frozenset({Limit.cap}),
            expires=False,
        )
    )


def counts(
    session: Session, program: BenefitProgram, settings: Settings, on: date
) -> dict[str, int]:
    """eligible: by verified attributes, whatever the follow state; notified: told;
    pending: eligible, reachable and not yet told; not_reachable: eligible but blocked or
    opted out of benefit notices."""
    assert program.id is not None
    rule = program_rule(program, settings)
    by_attributes = compile_rule(rule, on=on)
    reachable = audience_filter(rule, on=on, category=CATEGORY, respect_opt_outs=True)
    connection = session.connection()

    def count(where: sa.ColumnElement[bool]) -> int:
        return int(
            connection.execute(
                sa.select(sa.func.count()).select_from(Resident).where(where)
            ).scalar_one()
        )

    notified = int(
        connection.execute(
            sa.select(sa.func.count())
            .select_from(BenefitNotification)
            .where(col(BenefitNotification.program_id) == program.id)
        ).scalar_one()
    )
    eligible = count(by_attributes)
    return {
        "eligible": eligible,
        "notified": notified,
        "pending": count(sa.and_(reachable, ~_already(program.id))),
        "not_reachable": count(sa.and_(by_attributes, ~reachable)),
    }


EXPORT_COLUMNS = (
    "program_id",
    "program_name",
    "resident_id",
    "line_user_id",
    "district",
    "notified_at",
    "broadcast_id",
    "delivery_status",
)


def export_rows(
    session: Session, program: BenefitProgram, settings: Settings
) -> Iterator[Mapping[str, Any]]:
    """Every notified resident with the delivery outcome, for the city's reconciliation."""
    notices = sa.select(col(BenefitNotification.broadcast_id)).where(
        col(BenefitNotification.program_id) == program.id
    )
    # The reconciliation needs each resident's row, even of a notice still being sent.
    broadcast_ids = list(session.connection().execute(notices.distinct()).scalars())
    ledger.catch_up(session, utcnow(), broadcast_ids)
    query = (
        sa.select(
            col(BenefitNotification.resident_id),
            col(Resident.line_user_id),
            col(Resident.district),
            col(BenefitNotification.notified_at),
            col(BenefitNotification.broadcast_id),
            col(Delivery.status),
        )
        .join(Resident, col(Resident.id) == col(BenefitNotification.resident_id))
        .outerjoin(
            Delivery,
            sa.and_(
                col(Delivery.broadcast_id) == col(BenefitNotification.broadcast_id),
                col(Delivery.resident_id) == col(BenefitNotification.resident_id),
            ),
        )
        .where(col(BenefitNotification.program_id) == program.id)
        .order_by(col(BenefitNotification.id))
    )
    for resident_id, user_id, district, at, broadcast_id, status in session.connection().execute(
        query
    ):
        yield {
            "program_id": program.id,
            "program_name": program.name,
            "resident_id": resident_id,
            "line_user_id": user_id,
            "district": district or "",
            "notified_at": at.astimezone(settings.tz).isoformat() if at else "",
            "broadcast_id": broadcast_id,
            "delivery_status": status or "",
        }
