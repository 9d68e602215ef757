"""Emergency benchmark: an evacuation order overtaking a city-wide broadcast.

200k residents in 20 districts; `broadcaster serve` in its own process, as a city runs it
(its defaults: dispatch process on, 16 requests in flight), on SQLite or PostgreSQL; the
LINE sandbox in another process at LINE's real limits (multicast 200 req/s) with 20 ms
added to every response. A department's notice to all 200k is sent through the API and
is already sending when the disaster desk calls `POST /api/v1/emergencies` for 5
districts (50k residents).

    python bench/emergency.py [--residents 200000] [--districts 5] [--latency-ms 20]

Prints the time from the API call to the order's first LINE request (target < 500 ms) and
to its last acceptance (target <= 1.10 x floor, floor = ceil(recipients/500)/200 s), taken
from the sandbox's request log; how many of the notice's batches were queued after the
order's first (its outbox was still being written); the 429s the sandbox answered; and
the duplicate / missing counts of both broadcasts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import make_url
from sqlmodel import Session

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from broadcaster.batches import Batch  # noqa: E402
from broadcaster.db import alembic_config, make_engine  # noqa: E402
from broadcaster.deliveries import Delivery, DeliveryStatus  # noqa: E402
from broadcaster.departments import Role, create_department  # noqa: E402
from broadcaster.emergency.shelters import Shelter  # noqa: E402
from broadcaster.models import metadata  # noqa: E402
from broadcaster.pacing import floor_seconds  # noqa: E402
from broadcaster.sandbox import SandboxConfig  # noqa: E402
from broadcaster.sandbox.testing import SandboxProcess, free_port  # noqa: E402
from tests.delivery.scenario import T0, add_residents  # noqa: E402

DISTRICTS = [f"第{n:02d}地区" for n in range(1, 21)]
FINISHED = {"sent", "partially_failed", "cancelled", "expired"}
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def prepare(engine: sa.engine.Engine, residents: int) -> dict[str, str]:
    """Residents, two open shelters per district, and API tokens: the disaster desk's
    ("desk") and a department's ("department")."""
    add_residents(
        engine,
        residents,
        start=1,
        district=lambda n: DISTRICTS[n % len(DISTRICTS)],
        language=lambda n: "en" if n % 10 == 0 else "ja",
    )
    with Session(engine) as session:
        _, desk = create_department(session, "防災危機管理課", Role.disaster_desk, T0)
        _, department = create_department(session, "水道課", Role.department, T0)
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
    return {"desk": desk, "department": department}


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


class Service:
    """`broadcaster serve` in a child process, talked to over HTTP like any client."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._env, self._log = env, log
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Service:
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "broadcaster", "serve"],
                env=self._env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.call("GET", "/healthz")
                return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"serve did not start:\n{self._log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        with _DIRECT.open(request, timeout=60) as response:
            answer: dict[str, Any] = json.loads(response.read() or b"{}")
            return answer

    def wait_finished(self, token: str, broadcast_id: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.call("GET", f"/api/v1/broadcasts/{broadcast_id}", token)["status"] not in (
            FINISHED
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"broadcast {broadcast_id} did not finish")
            time.sleep(0.2)


def run(
    residents: int, districts: int, latency_ms: int, server_url: str | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, database(tmp, server_url) as url:
        engine = make_engine(url)
        metadata.create_all(engine)
        command.stamp(alembic_config(engine), "head")
        tokens = prepare(engine, residents)
        with SandboxProcess(SandboxConfig(delay_ms=latency_ms)) as sandbox:
            port = free_port()
            env = {
                **os.environ,
                "BROADCASTER_CONFIG": str(REPO / "config.toml"),
                "BROADCASTER_DATA_DIR": tmp,
                "BROADCASTER_DATABASE_URL": url,
                "BROADCASTER_SERVER_PORT": str(port),
                "BROADCASTER_LOG_LEVEL": "warning",
                "BROADCASTER_LINE_API_BASE_URL": sandbox.url,
                "BROADCASTER_LINE_CHANNEL_ACCESS_TOKEN": "sandbox-token",
                "BROADCASTER_LINE_CHANNEL_SECRET": "sandbox-secret",
                "BROADCASTER_RESIDENTS_DISTRICTS": json.dumps(DISTRICTS, ensure_ascii=False),
                # The department's notice must go now, whatever the hour the bench runs at.
                "BROADCASTER_QUIET_HOURS_ENABLED": "false",
            }
            with Service(env, port, Path(tmp) / "serve.log") as service:
                normal = service.call(
                    "POST",
                    "/api/v1/broadcasts",
                    tokens["department"],
                    {
                        "title": "断水のお知らせ",
                        "category": "general",
                        "template_text": "断水のお知らせです。",
                        "send_at": "now",
                    },
                )
                while sandbox.totals()["accepted_requests"] < 40:  # already sending
                    time.sleep(0.01)
                started = time.time()
                order = service.call(
                    "POST",
                    "/api/v1/emergencies",
                    tokens["desk"],
                    {
                        "level": 4,
                        "districts": DISTRICTS[:districts],
                        "kind": "洪水",
                        "text": "川が氾濫するおそれがあります。",
                    },
                )
                answered = time.time() - started
                emergency_broadcast = order["broadcasts"][0]["id"]
                service.wait_finished(tokens["desk"], emergency_broadcast)
                service.wait_finished(tokens["department"], normal["id"])
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
            counts = dict(
                connection.execute(
                    sa.select(delivery.c.status, sa.func.count())
                    .where(delivery.c.broadcast_id == emergency_broadcast)
                    .group_by(delivery.c.status)
                ).all()
            )
            first_order_batch = sa.select(sa.func.min(batch.c.id)).where(
                batch.c.broadcast_id == emergency_broadcast
            )
            # The notice's batches written after the order's first one: the notice's
            # outbox was still being written when the order came (0: already queued).
            notice_after_order = connection.execute(
                sa.select(sa.func.count()).where(
                    batch.c.broadcast_id == normal["id"],
                    batch.c.id > first_order_batch.scalar_subquery(),
                )
            ).scalar_one()
        engine.dispose()
    expected = sum(counts.values())
    accepted = counts.get(DeliveryStatus.accepted.value, 0)
    ours = [r for r in log if r["retry_key"] in keys]
    ok = [r for r in ours if r["status"] in (200, 409)]
    floor = floor_seconds(expected, 500, 200.0)
    last = max(r["at"] for r in ok) - started
    unit = f"b{emergency_broadcast}"
    return {
        "database": "postgresql" if server_url else "sqlite",
        "recipients": expected,
        "api_answer_s": answered,
        "first_request_s": min(r["at"] for r in ours) - started,
        "last_acceptance_s": last,
        "floor_s": floor,
        "ratio": last / floor,
        "emergency_requests": len(ours),
        "emergency_served": sum(int(r["recipients"]) for r in ours if r["status"] == 200),
        "emergency_duplicates": sum(d["count"] - 1 for d in duplicates if d["unit"] == unit),
        "emergency_missing": expected - accepted,
        "notice_batches_queued_after_order": notice_after_order,
        "rate_limited_429s": sum(1 for r in log if r["status"] == 429),
        "all_duplicates": int(totals["duplicates"]),
        "all_missing": residents - int(totals["distinct_users"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--residents", type=int, default=200_000)
    parser.add_argument("--districts", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server URL; the run uses a fresh database there instead of SQLite",
    )
    args = parser.parse_args()
    row = run(args.residents, args.districts, args.latency_ms, args.postgres)
    for key, value in row.items():
        print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")
    print(f"{'targets':>22}: first_request_s < 0.5, ratio <= 1.10, no duplicates, none missing")


if __name__ == "__main__":
    main()
