"""Alert-feed benchmark: time from a telegram's entry appearing in a JMA-style Atom feed
to its draft being listed by the API the disaster desk's screen reads (target <= 5 s).

A local feed server (the tests' stand-in for JMA's), the poll job on a real APScheduler
at the shipped `emergency.feed_interval_seconds` (or --interval), SQLite. Each run adds
the entry just after a poll found the feed unchanged (the worst case), then polls the API.

    python bench/alert_feed.py [--runs 10] [--interval SECONDS]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alembic import command  # noqa: E402
from apscheduler.schedulers.background import BackgroundScheduler  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import Session  # noqa: E402

from broadcaster.app import create_app  # noqa: E402
from broadcaster.db import make_engine  # noqa: E402
from broadcaster.departments import Role, create_department  # noqa: E402
from broadcaster.emergency import feeds  # noqa: E402
from broadcaster.migrate import alembic_config  # noqa: E402
from broadcaster.models import metadata  # noqa: E402
from broadcaster.settings import load_settings  # noqa: E402
from tests.conftest import T0  # noqa: E402
from tests.emergency import telegrams as tg  # noqa: E402
from tests.emergency.feed_server import FEED_PATH, serve_feed  # noqa: E402


def one_run(interval: float | None, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, serve_feed() as server:
        overrides: dict[str, object] = {
            "data_dir": tmp,
            "emergency.feeds": [{"url": server.feed_url}],
        }
        if interval is not None:
            overrides["emergency.feed_interval_seconds"] = interval
        settings = load_settings(REPO / "config.toml", environ={}, overrides=overrides)
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        metadata.create_all(engine)
        command.stamp(alembic_config(engine), "head")
        with Session(engine) as session:
            _, token = create_department(session, "危機管理課", Role.disaster_desk, T0)
            session.commit()
        scheduler = BackgroundScheduler(timezone="UTC")
        feeds.install(scheduler, engine, settings)
        with TestClient(create_app(settings, engine=engine, background=False)) as client:
            scheduler.start()
            try:
                while server.requests[FEED_PATH] == 0:
                    time.sleep(0.005)
                appeared = time.monotonic()
                server.add(
                    f"surge{n}", tg.H27, tg.weather(tg.H27, tg.item(tg.kind("高潮警報", "08")))
                )
                while not client.get(
                    "/api/v1/emergencies/drafts", headers={"Authorization": f"Bearer {token}"}
                ).json()["drafts"]:
                    if time.monotonic() - appeared > 120:
                        raise SystemExit("no draft within 120 s")
                    time.sleep(0.02)
                return time.monotonic() - appeared
            finally:
                scheduler.shutdown(wait=True)
                engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--interval", type=float, default=None)
    args = parser.parse_args()
    times = [one_run(args.interval, n) for n in range(args.runs)]
    print(
        f"entry to draft over {args.runs} runs: median {statistics.median(times):.2f} s, "
        f"max {max(times):.2f} s (target <= 5 s)"
    )


if __name__ == "__main__":
    main()
