"""Run dispatch (resuming any interrupted one, as `serve` does at start: the one dispatch
path with `resume=True`) and a DeliveryWorker until everything is sent; the crash tests
SIGKILL this process at various points and run it again.

    python tests/delivery/crash_worker.py DB_URL SANDBOX_URL BROADCAST_ID
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from broadcaster.db import make_engine
from broadcaster.delivery.worker import DeliveryWorker
from broadcaster.render import Renderer
from broadcaster.schedule import resume_interrupted
from tests.delivery.scenario import line_settings


async def main(db_url: str, sandbox_url: str) -> None:
    engine = make_engine(db_url)
    settings = line_settings(Path("/tmp"), sandbox_url, **{
        "line.request_timeout_seconds": 0.5, "rate_limits.multicast": 20.0,
        "line.max_in_flight": 4})
    # One replica id, a new boot each run: the restarted process takes its dead
    # predecessor's leases back at once.
    worker = DeliveryWorker(engine, settings, owner=f"crash-worker:{os.getpid()}",
                            poll_interval=0.02)
    await worker.start()
    renderer = Renderer.from_settings(settings)
    await asyncio.to_thread(resume_interrupted, engine, renderer, settings, datetime.now(UTC))
    await worker.wait_idle(60)
    await worker.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
