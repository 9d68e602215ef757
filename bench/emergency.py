"""Emergency benchmark: an evacuation order overtaking a city-wide broadcast.

200k residents in 20 districts on SQLite; the LINE sandbox in its own process at LINE's
real limits (multicast 200 req/s) with 20 ms added to every response; a normal broadcast to
all 200k already sending through the DeliveryWorker; then an evacuation order to 5
districts (50k residents) through the API (create_app + TestClient, in this process).

    python bench/emergency.py [--residents 200000] [--districts 5] [--latency-ms 20]

Prints the time from the API call to the emergency's first LINE request (target < 500 ms)
and to its last acceptance (target <= 1.10 x floor, floor = ceil(recipients/500)/200 s),
taken from the sandbox's request log, and the sandbox's duplicate / missing counts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from sqlmodel import Session

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from broadcaster.app import create_app  # noqa: E402
from broadcaster.batches import Batch  # noqa: E402
from broadcaster.broadcasts import Broadcast  # noqa: E402
from broadcaster.db import alembic_config, make_engine  # noqa: E402
from broadcaster.deliveries import Delivery, DeliveryStatus  # noqa: E402
from broadcaster.departments import Role, create_department  # noqa: E402
from broadcaster.emergency.shelters import Shelter  # noqa: E402
from broadcaster.models import metadata  # noqa: E402
from broadcaster.outbox import dispatch  # noqa: E402
from broadcaster.pacing import floor_seconds  # noqa: E402
from broadcaster.sandbox import SandboxConfig  # noqa: E402
from broadcaster.sandbox.testing import SandboxProcess  # noqa: E402
from broadcaster.settings import Settings, load_settings  # noqa: E402
from broadcaster.worker import DeliveryWorker  # noqa: E402
from tests.delivery.scenario import T0, add_residents, new_broadcast, text_plan  # noqa: E402

DISTRICTS = [f"第{n:02d}地区" for n in range(1, 21)]


class WorkerThread:
    """The DeliveryWorker on its own event loop in a thread, as `broadcaster serve` runs it
    beside the API."""

    def __init__(self, engine: sa.engine.Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        worker = DeliveryWorker(self.engine, self.settings, poll_interval=0.02)
        await worker.start()
        while not self._stop.is_set():
            await asyncio.sleep(0.05)
        await worker.wait_idle(600)
        await worker.stop()

    def __enter__(self) -> WorkerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def prepare(engine: sa.engine.Engine, residents: int) -> tuple[int, str]:
    """Residents, shelters, the normal broadcast; returns its id and a desk token."""
    add_residents(
        engine,
        residents,
        start=1,
        district=lambda n: DISTRICTS[n % len(DISTRICTS)],
        language=lambda n: "en" if n % 10 == 0 else "ja",
    )
    with Session(engine) as session:
        # First, so it is department 1, which new_broadcast files the normal notice under.
        _, token = create_department(session, "防災危機管理課", Role.disaster_desk, T0)
        for district in DISTRICTS:
            for n in range(2):
                session.add(
                    Shelter(
                        name=f"{district}避難所{n + 1}",
                        address=f"{district}1-{n + 1}",
                        district=district,
                        latitude=33.9,
                        longitude=130.9,
                        kinds=["洪水"],
                        is_open=True,
                        opened_at=T0,
                        created_at=T0,
                        updated_at=T0,
                    )
                )
        session.commit()
    normal = new_broadcast(engine, title="断水のお知らせ")
    assert normal.id is not None
    return normal.id, token


@contextmanager
def database(tmp: str, server_url: str | None) -> Iterator[str]:
    """A SQLite file in `tmp`, or a fresh database on the PostgreSQL server given."""
    if not server_url:
        yield f"sqlite:///{tmp}/bench.db"
        return
    server = make_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"bench_emergency_{uuid.uuid4().hex[:8]}"
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def run(
    residents: int, districts: int, latency_ms: int, overlap: bool, server_url: str | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, database(tmp, server_url) as url:
        engine = make_engine(url)
        metadata.create_all(engine)
        command.stamp(alembic_config(engine), "head")
        normal_id, token = prepare(engine, residents)
        config = SandboxConfig(delay_ms=latency_ms)
        with SandboxProcess(config) as sandbox:
            settings = load_settings(
                REPO / "config.toml",
                environ={},
                overrides={
                    "data_dir": tmp,
                    "line.channel_access_token": "sandbox-token",
                    "line.api_base_url": sandbox.url,
                    "line.max_in_flight": 32,
                    "residents.districts": DISTRICTS,
                    "database_url": url,
                },
            )
            app = create_app(settings, engine=engine, background=False)
            with TestClient(app) as client, WorkerThread(engine, settings):
                client.get("/healthz")

                def normal_dispatch() -> None:
                    with Session(engine, expire_on_commit=False) as session:
                        broadcast = session.get(Broadcast, normal_id)
                        assert broadcast is not None
                        dispatch(session, broadcast, text_plan("断水のお知らせ"), datetime.now(UTC))

                normal = threading.Thread(target=normal_dispatch)
                normal.start()
                if not overlap:  # the normal broadcast fully queued, not still being written
                    normal.join()
                while sandbox.totals()["accepted_requests"] < 40:  # already sending
                    time.sleep(0.02)
                ordered = DISTRICTS[:districts]
                started = time.time()
                response = client.post(
                    "/api/v1/emergencies",
                    headers={"Authorization": f"Bearer {token}"},
                    json={
                        "level": 4,
                        "districts": ordered,
                        "kind": "洪水",
                        "text": "川が氾濫するおそれがあります。",
                    },
                )
                answered = time.time() - started
                assert response.status_code == 201, response.text
                emergency_broadcast = response.json()["broadcasts"][0]["id"]
                normal.join()
            log = sandbox.requests()
            duplicates = sandbox.duplicates()
            totals = sandbox.totals()
        batch = Batch.__table__
        delivery = Delivery.__table__
        with engine.connect() as connection:
            keys = set(
                connection.execute(
                    sa.select(batch.c.retry_key).where(batch.c.broadcast_id == emergency_broadcast)
                ).scalars()
            )
            expected = connection.execute(
                sa.select(sa.func.count())
                .select_from(delivery)
                .where(delivery.c.broadcast_id == emergency_broadcast)
            ).scalar_one()
            accepted = connection.execute(
                sa.select(sa.func.count())
                .select_from(delivery)
                .where(
                    delivery.c.broadcast_id == emergency_broadcast,
                    delivery.c.status == DeliveryStatus.accepted.value,
                )
            ).scalar_one()
        engine.dispose()
    ours = [r for r in log if r["retry_key"] in keys]
    ok = [r for r in ours if r["status"] in (200, 409)]
    served = sum(int(r["recipients"]) for r in ours if r["status"] == 200)
    floor = floor_seconds(expected, 500, 200.0)
    last = max(r["at"] for r in ok) - started
    unit = f"b{emergency_broadcast}"
    return {
        "database": "postgresql" if server_url else "sqlite",
        "overlap": overlap,
        "recipients": expected,
        "api_answer_s": answered,
        "first_request_s": min(r["at"] for r in ours) - started,
        "last_acceptance_s": last,
        "floor_s": floor,
        "ratio": last / floor,
        "emergency_requests": len(ours),
        "emergency_served": served,
        "emergency_duplicates": sum(d["count"] - 1 for d in duplicates if d["unit"] == unit),
        "emergency_missing": expected - accepted,
        "all_duplicates": int(totals["duplicates"]),
        "all_missing": residents - int(totals["distinct_users"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--residents", type=int, default=200_000)
    parser.add_argument("--districts", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument(
        "--overlap",
        action="store_true",
        help="send the order while the normal broadcast is still being written to the outbox",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server URL; the run uses a fresh database there instead of SQLite",
    )
    args = parser.parse_args()
    row = run(args.residents, args.districts, args.latency_ms, args.overlap, args.postgres)
    for key, value in row.items():
        print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")
    print(f"{'targets':>22}: first_request_s < 0.5, ratio <= 1.10, no duplicates, none missing")


if __name__ == "__main__":
    main()
