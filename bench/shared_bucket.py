"""The shared rate bucket's cost at LINE's multicast rate (200 requests/s).

16 senders in each of `--replicas` pacers (one per replica, in one process here) take
tokens for `--seconds` from one `rate_bucket` row on PostgreSQL, as the replicas' senders
would; the same with the in-process `Pacer` (SQLite's) for comparison. Prints tokens
taken per second (target: LINE's rate, never above it), database round trips per second,
their mean time, and the CPU seconds used per second of sending.

    python bench/shared_bucket.py --postgres URL [--replicas 2] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import cpu_model, database, load  # noqa: E402
from broadcaster.db import make_engine  # noqa: E402
from broadcaster.delivery.line import Pacer, Pacing  # noqa: E402
from broadcaster.delivery.shared_bucket import RateBucket, SharedPacer  # noqa: E402
from broadcaster.settings import RateLimitSettings  # noqa: E402
from tests.delivery.scenario import line_settings  # noqa: E402

SENDERS = 16


async def _drive(pacers: list[Any], seconds: float) -> dict[str, float]:
    for pacer in pacers:
        await pacer.open()
    taken = 0
    stop = time.monotonic() + seconds

    async def sender(pacer: Pacing) -> None:
        nonlocal taken
        while time.monotonic() < stop:
            await pacer.acquire("multicast", emergency=False)
            taken += 1

    cpu, began = time.process_time(), time.monotonic()
    await asyncio.gather(*(sender(p) for p in pacers for _ in range(SENDERS)))
    elapsed, cpu = time.monotonic() - began, time.process_time() - cpu
    for pacer in pacers:
        await pacer.close()
    return {"tokens_per_s": taken / elapsed, "cpu_s_per_s": cpu / elapsed}


def run(server_url: str, replicas: int, seconds: float) -> dict[str, Any]:
    rates = RateLimitSettings()
    with tempfile.TemporaryDirectory() as tmp, database(tmp, server_url) as url:
        engine = make_engine(url)
        RateBucket.metadata.create_all(engine, tables=[RateBucket.__table__])  # type: ignore[attr-defined]
        settings = line_settings(Path(tmp), url)
        shared = [SharedPacer(engine, settings, rates=rates) for _ in range(replicas)]
        result = asyncio.run(_drive(shared, seconds))
        trips = sum(p.round_trips for p in shared)
        spent = sum(p.round_trip_seconds for p in shared)
        local = asyncio.run(_drive([Pacer(rates)], seconds))
        engine.dispose()
    return {
        "replicas": replicas,
        "shared_tokens_per_s": result["tokens_per_s"],
        "shared_round_trips_per_s": trips / seconds,
        "shared_round_trip_mean_ms": 1000 * spent / max(1, trips),
        "shared_cpu_s_per_s": result["cpu_s_per_s"],
        "local_tokens_per_s": local["tokens_per_s"],
        "local_cpu_s_per_s": local["cpu_s_per_s"],
        "load": load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", required=True)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"# {cpu_model()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for key, value in run(args.postgres, args.replicas, args.seconds).items():
        print(f"{key:>28}: {value:.3f}" if isinstance(value, float) else f"{key:>28}: {value}")


if __name__ == "__main__":
    main()
