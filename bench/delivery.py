"""Delivery benchmark: N synthetic residents on SQLite, the LINE sandbox in its own process
at LINE's real multicast limit (200 req/s) with 20 ms added to every response, and our
dispatch + worker pipelined in this process.

    python bench/delivery.py --residents 10000 100000 1000000

Prints, per N: wall time from the start of dispatch to the last acceptance, the floor
ceil(N/500)/200 s and the ratio, time to the first request, renderings, peak RSS of this
process while dispatching and sending, and what the sandbox served (recipients,
duplicates, missing).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import sqlalchemy as sa
from sqlmodel import Session

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from broadcaster.batches import Batch  # noqa: E402
from broadcaster.broadcasts import Broadcast  # noqa: E402
from broadcaster.db import make_engine  # noqa: E402
from broadcaster.models import metadata  # noqa: E402
from broadcaster.outbox import dispatch  # noqa: E402
from broadcaster.pacing import floor_seconds  # noqa: E402
from broadcaster.sandbox import SandboxConfig  # noqa: E402
from broadcaster.sandbox.testing import SandboxProcess  # noqa: E402
from broadcaster.settings import load_settings  # noqa: E402
from broadcaster.worker import DeliveryWorker  # noqa: E402
from tests.delivery.scenario import add_residents, new_broadcast, text_plan  # noqa: E402


class PeakRss:
    """Samples this process's RSS every 20 ms while running."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def pipeline(engine: sa.engine.Engine, settings, broadcast_id: int) -> float:  # type: ignore[no-untyped-def]
    """Dispatch (in a thread) while the worker sends; returns the start time."""
    worker = DeliveryWorker(engine, settings, poll_interval=0.02)
    await worker.start()
    start = time.time()

    def run_dispatch() -> None:
        with Session(engine, expire_on_commit=False) as session:
            broadcast = session.get(Broadcast, broadcast_id)
            assert broadcast is not None
            dispatch(session, broadcast, text_plan("【市からのお知らせ】断水のお知らせ"),
                     datetime.now(UTC))

    await asyncio.to_thread(run_dispatch)
    await worker.wait_idle(600)
    await worker.stop()
    return start


def run(n: int, latency_ms: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            REPO / "config.toml", environ={},
            overrides={"data_dir": tmp, "line.channel_access_token": "sandbox-token",
                       "line.max_in_flight": 32},
        )
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        metadata.create_all(engine)
        add_residents(engine, n, start=1)
        broadcast = new_broadcast(engine)
        config = SandboxConfig(delay_ms=latency_ms, request_log_size=10_000)
        with SandboxProcess(config) as sandbox:
            settings = settings.model_copy(
                update={"line": settings.line.model_copy(update={"api_base_url": sandbox.url})}
            )
            with PeakRss() as rss:
                start = asyncio.run(pipeline(engine, settings, broadcast.id))
            totals = sandbox.totals()
        batch = Batch.__table__
        with engine.connect() as connection:
            first, last = connection.execute(
                sa.select(sa.func.min(batch.c.first_attempt_at), sa.func.max(batch.c.accepted_at))
            ).one()
        with Session(engine) as session:
            renderings = session.get(Broadcast, broadcast.id).renderings  # type: ignore[union-attr]
        engine.dispose()
    first_ts = first.replace(tzinfo=UTC).timestamp() if first.tzinfo is None else first.timestamp()
    last_ts = last.replace(tzinfo=UTC).timestamp() if last.tzinfo is None else last.timestamp()
    wall = last_ts - start
    floor = floor_seconds(n, 500, 200.0)
    served = int(totals["recipients_served"])
    return {
        "N": n, "wall_s": wall, "floor_s": floor, "ratio": wall / floor,
        "first_request_s": first_ts - start, "renderings": renderings,
        "peak_rss_mb": rss.peak / 2**20, "served": served,
        "duplicates": int(totals["duplicates"]),
        "missing": n - int(totals["distinct_users"]),
        "http_429": int(totals["requests"].get("multicast", {}).get("429", 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--latency-ms", type=int, default=20)
    args = parser.parse_args()
    header = ("N", "wall_s", "floor_s", "ratio", "first_request_s", "renderings",
              "peak_rss_mb", "served", "duplicates", "missing", "http_429")
    print(" ".join(f"{h:>15}" for h in header), flush=True)
    for n in args.residents:
        row = run(n, args.latency_ms)
        print(" ".join(
            f"{row[h]:>15.3f}" if isinstance(row[h], float) else f"{row[h]:>15}" for h in header
        ), flush=True)


if __name__ == "__main__":
    main()
