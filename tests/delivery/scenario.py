"""Building blocks for delivery tests, the crash script and the benchmark: residents in
bulk, a broadcast, the usual plans, and running dispatch plus a worker to the end."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster import ledger
from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.delivery.worker import DeliveryWorker
from broadcaster.departments import Department
from broadcaster.outbox import DispatchPlan, dispatch
from broadcaster.settings import Settings, load_settings
from segments.residents import FollowState, Resident

T0 = datetime(2026, 4, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
_serial = itertools.count(1)


def line_settings(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    """Settings that deliver to the sandbox at `url`, with test-sized timeouts and backoff."""
    values: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "line.api_base_url": url,
        "line.channel_access_token": "sandbox-token",
        "line.request_timeout_seconds": 2.0,
        "line.backoff_base_seconds": 0.01,
        "line.backoff_max_seconds": 0.05,
    }
    values.update(overrides)
    return load_settings(REPO / "config.toml", environ={}, overrides=values)


def user_id(n: int) -> str:
    return "U" + f"{n:032x}"


def add_residents(engine: Engine, count: int, *, start: int | None = None,
                  **fields: Any) -> list[int]:
    """Insert `count` following residents fast (core executemany); returns their ids.

    A field given as a callable is called with the resident's number."""
    first = next(_serial) * 10_000_000 if start is None else start
    table = Resident.__table__
    ids: list[int] = []
    with engine.begin() as connection:
        for offset in range(0, count, 50_000):
            rows = []
            for n in range(first + offset, first + min(count, offset + 50_000)):
                row: dict[str, Any] = {
                    "line_user_id": user_id(n), "follow_state": FollowState.following.value,
                    "followed_at": T0, "created_at": T0, "updated_at": T0, "language": "ja",
                    "district": "中央", "garbage_zone": "A", "follow_count": 1,
                    "reminder_timing": "eve",
                }
                for name, value in fields.items():
                    row[name] = value(n) if callable(value) else value
                rows.append(row)
            connection.execute(sa.insert(table), rows)
        ids = list(connection.execute(
            sa.select(table.c.id).where(table.c.line_user_id >= user_id(first))
            .where(table.c.line_user_id < user_id(first + count)).order_by(table.c.id)
        ).scalars())
    return ids


def new_broadcast(engine: Engine, **fields: Any) -> Broadcast:
    with Session(engine, expire_on_commit=False) as session:
        department = session.get(Department, 1)
        if department is None:
            department = Department(id=1, name="危機管理課", role="disaster_desk", created_at=T0)
            session.add(department)
            session.flush()
        values: dict[str, Any] = {
            "department_id": 1, "title": "お知らせ", "category": "general",
            "status": BroadcastStatus.scheduled.value, "template_text": "x",
            "send_at": T0, "created_at": T0, "updated_at": T0,
        }
        values.update(fields)
        broadcast = Broadcast(**values)
        session.add(broadcast)
        session.commit()
        return broadcast


def text_plan(text: str = "お知らせです", *, audience: Any = None,
              fields: tuple[str, ...] = (), over_cap: Any = None) -> DispatchPlan:
    """All following residents (or `audience`), one text; with `fields`, one text per
    context naming its values."""

    def render(context: Mapping[str, Any]) -> list[dict[str, Any]]:
        suffix = "".join(f" {context[f]}" for f in fields)
        return [{"type": "text", "text": text + suffix}]

    return DispatchPlan(
        audience=audience if audience is not None
        else Resident.follow_state == FollowState.following.value,
        context_fields=fields,
        render=render,
        over_cap=over_cap,
    )


def dispatch_now(engine: Engine, broadcast_id: int, plan: DispatchPlan,
                 now: datetime | None = None, **kwargs: Any) -> Any:
    with Session(engine, expire_on_commit=False) as session:
        broadcast = session.get(Broadcast, broadcast_id)
        assert broadcast is not None
        return dispatch(session, broadcast, plan, now or datetime.now(UTC), **kwargs)


def deliver_all(engine: Engine, settings: Settings, timeout: float = 30.0,
                **worker_args: Any) -> DeliveryWorker:
    """Run a worker until no batch is pending; returns it (stopped)."""

    async def main() -> DeliveryWorker:
        worker = DeliveryWorker(engine, settings, **worker_args)
        await worker.start()
        try:
            await worker.wait_idle(timeout)
        finally:
            await worker.stop()
        return worker

    return asyncio.run(main())


def run_async(coro_fn: Callable[[], Any]) -> Any:
    return asyncio.run(coro_fn())


def ledgered(engine: Engine) -> int:
    """Have the ledger write every batch's delivery rows now (serve does it in the
    background); returns how many it wrote."""
    with engine.begin() as connection:
        return ledger.catch_up(connection, datetime.now(UTC))
