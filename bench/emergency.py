"""Emergency benchmark: an evacuation order overtaking a city-wide notice, and a crash.

300k residents in 6 districts; `broadcaster serve` in its own process with its defaults;
the LINE sandbox in another at LINE's limits (multicast 200 requests/s) adding 20 ms to
every response. A department's notice to all 300k is sent through the API and is already
going out when the disaster desk calls `POST /api/v1/emergencies` for 2 districts (100k
residents). Then the peer (bench/harness.py) sends to the same 100k alone, in the same
run, against the same sandbox.

    python bench/emergency.py [--residents 300000] [--districts 2] [--postgres URL]
    python bench/emergency.py --kill     # kill -9 serve mid-order, restart, measure

Prints: API answer time (target <= 100 ms); API call -> the order's first acceptance
(target <= 150 ms) and last (target <= 1.15 x its floor = ceil(n/500)/200 s); the ratio
to the peer (its wall from before it reads the order's ids to its last acceptance); the
notice's batches queued after the order's first (the notice's outbox was still being
written); 429s; duplicates and missing for both broadcasts. With --kill:
seconds from the restarted process's start to the order's next request (target <= 2 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlmodel import Session

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import (  # noqa: E402
    Service,
    cpu_model,
    database,
    floor_seconds,
    load,
    run_peer,
    service_env,
    user_ids_from,
)
from broadcaster.batches import Batch  # noqa: E402
from broadcaster.db import make_engine  # noqa: E402
from broadcaster.departments import Role, create_department  # noqa: E402
from broadcaster.emergency.shelters import Shelter  # noqa: E402
from broadcaster.migrate import alembic_config  # noqa: E402
from broadcaster.models import metadata  # noqa: E402
from broadcaster.sandbox import SandboxConfig  # noqa: E402
from broadcaster.sandbox.testing import SandboxProcess, free_port  # noqa: E402
from tests.delivery.scenario import T0, add_residents  # noqa: E402

DISTRICTS = [f"第{n}地区" for n in range(1, 7)]


def prepare(engine: sa.engine.Engine, residents: int) -> dict[str, str]:
    """Residents, two open shelters per district, and the desk's and a department's token."""
    add_residents(engine, residents, start=1,
                  district=lambda n: DISTRICTS[n % len(DISTRICTS)],
                  language=lambda n: "en" if n % 10 == 0 else "ja")
    with Session(engine) as session:
        _, desk = create_department(session, "防災危機管理課", Role.disaster_desk, T0)
        _, department = create_department(session, "水道課", Role.department, T0)
        for district in DISTRICTS:
            for n in range(2):
                session.add(Shelter(
                    name=f"{district}避難所{n + 1}", address=f"{district}1-{n + 1}",
                    district=district, latitude=33.9, longitude=130.9, kinds=["洪水"],
                    is_open=True, opened_at=T0, created_at=T0, updated_at=T0))
        session.commit()
    return {"desk": desk, "department": department}


def _keys(engine: sa.engine.Engine, broadcast_id: int) -> set[str]:
    batch = Batch.__table__
    with engine.connect() as connection:
        return set(connection.execute(
            sa.select(batch.c.retry_key).where(batch.c.broadcast_id == broadcast_id)).scalars())


def _wait(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's condition was not met in time")
        time.sleep(0.005)


def run(residents: int, districts: int, latency_ms: int, server_url: str | None,
        kill: bool) -> dict[str, Any]:
    load_before = load()
    with tempfile.TemporaryDirectory() as tmp, database(tmp, server_url) as url:
        engine = make_engine(url)
        metadata.create_all(engine)
        command.stamp(alembic_config(engine), "head")
        tokens = prepare(engine, residents)
        with SandboxProcess(SandboxConfig(delay_ms=latency_ms)) as sandbox:
            port = free_port()
            env = service_env(tmp, url, port, sandbox.url, BROADCASTER_RESIDENTS_DISTRICTS=(
                "[" + ",".join(f'"{d}"' for d in DISTRICTS) + "]"))
            service = Service(env, port, Path(tmp) / "serve.log")
            restart: dict[str, float] = {}
            with service:
                service.wait_dispatch_process()
                normal = service.call("POST", "/api/v1/broadcasts", tokens["department"], {
                    "title": "断水のお知らせ", "category": "general",
                    "template_text": "断水のお知らせです。", "send_at": "now"})
                _wait(lambda: sandbox.totals()["accepted_requests"] >= 40)  # already sending
                started = time.time()
                order = service.call("POST", "/api/v1/emergencies", tokens["desk"], {
                    "level": 4, "districts": DISTRICTS[:districts], "kind": "洪水",
                    "text": "川が氾濫するおそれがあります。"})
                answered = time.time() - started
                emergency = order["broadcasts"][0]["id"]

                def order_requests() -> list[dict[str, Any]]:
                    keys = _keys(engine, emergency)
                    return [r for r in sandbox.requests() if r["retry_key"] in keys]

                if kill:
                    _wait(lambda: len(order_requests()) >= 20)
                    service.kill()
                    killed_at = time.time()
                    restarted_at = time.time()
                    service.start()
                    up = time.time() - restarted_at
                    _wait(lambda: any(r["at"] > killed_at for r in order_requests()))
                    next_request = min(r["at"] for r in order_requests() if r["at"] > killed_at)
                    restart = {"resumed_after_restart_s": next_request - restarted_at,
                               "serving_after_restart_s": up}
                service.wait_finished(tokens["desk"], emergency)
                service.wait_finished(tokens["department"], normal["id"])
            log = sandbox.requests()
            duplicates = sandbox.duplicates()
            _keys_at_end = _keys(engine, emergency)
            totals = sandbox.totals()
            with engine.connect() as connection:
                batch = Batch.__table__
                expected = int(connection.execute(
                    sa.select(sa.func.sum(batch.c.recipient_count))
                    .where(batch.c.broadcast_id == emergency)).scalar_one())
                first_order_batch = sa.select(sa.func.min(batch.c.id)).where(
                    batch.c.broadcast_id == emergency)
                notice_after_order = connection.execute(sa.select(sa.func.count()).where(
                    batch.c.broadcast_id == normal["id"],
                    batch.c.id > first_order_batch.scalar_subquery())).scalar_one()

            def district_ids() -> list[str]:
                if url.startswith("sqlite:///"):  # as a hand-written script would read them
                    return user_ids_from(url.removeprefix("sqlite:///"), DISTRICTS[:districts])
                with engine.connect() as connection:
                    return [row[0] for row in connection.execute(sa.text(
                        "SELECT line_user_id FROM resident WHERE follow_state = 'following'"
                        " AND district IN ("
                        + ",".join(f"'{d}'" for d in DISTRICTS[:districts]) + ") ORDER BY id"))]

            sandbox.reset()
            peer = run_peer(sandbox.url, district_ids)
        engine.dispose()
    keys = _keys_at_end
    ours = [r for r in log if r["retry_key"] in keys]
    ok = [r for r in ours if r["status"] in (200, 409)]
    unit = f"b{emergency}"
    served = sum(int(r["recipients"]) for r in ours if r["status"] == 200)
    dups = sum(d["count"] - 1 for d in duplicates if d["unit"] == unit)
    floor = floor_seconds(expected)
    last = max(r["at"] for r in ok) - started
    return {
        "database": "postgresql" if server_url else "sqlite",
        "recipients": expected,
        "api_answer_s": answered,
        "first_acceptance_s": min(r["at"] for r in ok) - started,
        "last_acceptance_s": last,
        "floor_s": floor,
        "ratio": last / floor,
        "peer_s": peer["wall_s"],
        "peer_read_s": peer["read_s"],
        "vs_peer": last / peer["wall_s"],
        "emergency_served": served,
        "emergency_duplicates": dups,
        "emergency_missing": expected - (served - dups),
        "notice_batches_queued_after_order": notice_after_order,
        "429s": sum(1 for r in log if r["status"] == 429),
        "all_duplicates": int(totals["duplicates"]),
        "all_missing": residents - int(totals["distinct_users"]),
        **restart,
        "load": f"{load_before}→{load()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--residents", type=int, default=300_000)
    parser.add_argument("--districts", type=int, default=2)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--postgres", metavar="URL",
                        help="a PostgreSQL server URL; the run uses a fresh database there")
    parser.add_argument("--kill", action="store_true",
                        help="kill -9 serve once mid-order and restart it")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"# {cpu_model()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for _ in range(args.runs):
        row = run(args.residents, args.districts, args.latency_ms, args.postgres, args.kill)
        for key, value in row.items():
            print(f"{key:>34}: {value:.3f}" if isinstance(value, float)
                  else f"{key:>34}: {value}")
        print(f"{'targets':>34}: api_answer_s <= 0.1, first_acceptance_s <= 0.15, "
              "ratio <= 1.15, 0 duplicates, 0 missing; resumed_after_restart_s <= 2")


if __name__ == "__main__":
    main()
