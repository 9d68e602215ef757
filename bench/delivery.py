"""Delivery benchmark: one city-wide notice through the real service, against the peer.

For each N: N following residents in a fresh SQLite file; the LINE sandbox in its own
process at LINE's limits (multicast 200 requests/s) adding 20 ms to every response;
`broadcaster serve` in its own process with its defaults, told over HTTP to send a notice
to everyone now (`POST /api/v1/broadcasts`). Then, against the same sandbox in the same
run, the peer (bench/harness.py) sends to the same N.

    python bench/delivery.py                         # 100k
    python bench/delivery.py --residents 1000000     # the target run (floor 10 s)

Columns: wall = API call -> last acceptance by LINE; floor = ceil(N/500)/200 s; ratio =
wall/floor (target <= 1.10 at 1M, <= 1.15 at 100k); peer = the peer's wall, from before
it reads the ids from SQLite (peer_read_s, its share) to its last acceptance, as ours runs
from the call, before the service reads its audience; vs_peer = wall / peer (target < 1);
first = API call -> first acceptance (target <= 0.2 s); cpu/100k = CPU
seconds of the service's processes per 100k recipients (main/100k: its main process
alone, the rest is the dispatch process; and the peer's, its read included); rss = peak RSS
of the service's main process / of all its processes (target <= 200 MB); dups, missing
and 429s as the sandbox saw them (targets 0); the load average before/after.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from alembic import command
from sqlmodel import Session

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import (  # noqa: E402
    Service,
    Usage,
    bulk_residents,
    cpu_model,
    database,
    floor_seconds,
    load,
    run_peer,
    service_env,
    user_ids_from,
)
from broadcaster.db import make_engine  # noqa: E402
from broadcaster.departments import Role, create_department  # noqa: E402
from broadcaster.migrate import alembic_config  # noqa: E402
from broadcaster.models import metadata  # noqa: E402
from broadcaster.sandbox import SandboxConfig  # noqa: E402
from broadcaster.sandbox.testing import SandboxProcess, free_port  # noqa: E402
from tests.delivery.scenario import T0  # noqa: E402


def run(n: int, latency_ms: int) -> dict[str, Any]:
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp, \
            database(tmp, None) as url:
        engine = make_engine(url)
        metadata.create_all(engine)
        command.stamp(alembic_config(engine), "head")
        with Session(engine) as session:
            _, token = create_department(session, "水道課", Role.department, T0)
            session.commit()
        engine.dispose()
        path = f"{tmp}/bench.db"
        bulk_residents(path, n, ["中央"])
        config = SandboxConfig(delay_ms=latency_ms, request_log_size=max(10_000, n // 400))
        with SandboxProcess(config) as sandbox:
            port = free_port()
            env = service_env(tmp, url, port, sandbox.url)
            with Service(env, port, Path(tmp) / "serve.log") as service:
                assert service.process is not None
                service.wait_dispatch_process()
                with Usage(service.process.pid) as usage:
                    started = time.time()
                    notice = service.call("POST", "/api/v1/broadcasts", token, {
                        "title": "断水のお知らせ", "category": "general",
                        "template_text": "断水のお知らせです。", "send_at": "now"})
                    status = service.wait_finished(token, notice["id"])
                    cpu = usage.stop()
            log = sandbox.requests()
            totals = sandbox.totals()
            accepted = [r["at"] for r in log if r["status"] in (200, 409)]
            ours = {
                "wall_s": max(accepted) - started,
                "first_s": min(accepted) - started,
                "dups": int(totals["duplicates"]),
                "missing": n - int(totals["distinct_users"]),
                "429s": sum(1 for r in log if r["status"] == 429),
            }
            sandbox.reset()
            peer = run_peer(sandbox.url, lambda: user_ids_from(path))
            peer_totals = sandbox.totals()
    floor = floor_seconds(n)
    return {
        "N": n, **ours, "floor_s": floor, "ratio": ours["wall_s"] / floor,
        "peer_s": peer["wall_s"], "peer_read_s": peer["read_s"],
        "vs_peer": ours["wall_s"] / peer["wall_s"],
        "cpu/100k": cpu / n * 100_000, "main/100k": usage.main_cpu() / n * 100_000,
        "peer_cpu/100k": peer["cpu_s"] / n * 100_000,
        "rss_mb": usage.peak_rss / 2**20, "tree_mb": usage.peak_tree_rss / 2**20,
        "peer_dups": int(peer_totals["duplicates"]),
        "peer_missing": n - int(peer_totals["distinct_users"]),
        "status": status, "load": f"{load_before}→{load()}",
    }


COLUMNS = ("N", "wall_s", "floor_s", "ratio", "peer_s", "peer_read_s", "vs_peer", "first_s",
           "cpu/100k", "main/100k", "peer_cpu/100k", "rss_mb", "tree_mb", "dups", "missing", "429s",
           "peer_dups", "peer_missing", "status", "load")


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--residents", type=int, nargs="+", default=[100_000], metavar="N")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1, help="runs per N (default 1)")
    args = parser.parse_args()
    print(f"# {cpu_model()}, {len(__import__('os').sched_getaffinity(0))} CPUs, "
          f"latency {args.latency_ms} ms, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
          flush=True)
    print("  ".join(c.rjust(9) for c in COLUMNS), flush=True)
    for n in args.residents:
        for _ in range(args.runs):
            row = run(n, args.latency_ms)
            print("  ".join(_cell(row[c]).rjust(9) for c in COLUMNS), flush=True)
    print("# targets: ratio <= 1.10 (1M) / 1.15 (100k), vs_peer < 1, first <= 0.2 s, "
          "rss <= 200 MB, 0 dups, 0 missing, 0 429s")


if __name__ == "__main__":
    main()
