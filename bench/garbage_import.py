"""Benchmark: importing a 1.6 MB Google-style garbage calendar, against the libraries alone.

Not a test. Generates the export (tests/garbage/synthetic.py), then times, best of N:
- the libraries: icalendar's parse and recurring-ical-events' expansion over the window;
- our import: parse, screen series, expand, read kinds, diff and replace into a fresh
  SQLite database (one transaction).
The target (issue 16) is our import within 1.3x of the libraries.

    .venv/bin/python bench/garbage_import.py [--bytes 1600000] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import icalendar  # noqa: E402
import recurring_ical_events  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

import broadcaster.models  # noqa: E402,F401  (every table)
from broadcaster.db import make_engine  # noqa: E402
from broadcaster.garbage.importer import import_calendar, today_in  # noqa: E402
from broadcaster.settings import load_settings  # noqa: E402
from tests.garbage.synthetic import google_export  # noqa: E402

NOW = datetime(2026, 4, 1, 3, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=1_600_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(_HERE.parent / "config.toml", environ={},
                                 overrides={"data_dir": tmp})
        today = today_in(settings, NOW)
        end = today + timedelta(days=settings.garbage.expand_days)
        data = google_export(args.bytes, today)
        print(f"export: {len(data) / 1e6:.2f} MB, {data.count(b'BEGIN:VEVENT')} VEVENTs")

        def libraries() -> int:
            calendar = icalendar.Calendar.from_ical(data.decode("utf-8"))
            return len(recurring_ical_events.of(calendar).between(today, end))

        def ours(run: int) -> int:
            engine = make_engine(f"sqlite:///{tmp}/bench-{run}.db")
            SQLModel.metadata.create_all(engine)
            with Session(engine) as session:
                result = import_calendar(session, data, settings=settings, now=NOW,
                                         actor="bench", source="bench", zone=None)
                session.commit()
            engine.dispose()
            return result.days

        lib_times, our_times = [], []
        for run in range(args.runs):
            started = time.perf_counter()
            occurrences = libraries()
            lib_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            days = ours(run)
            our_times.append(time.perf_counter() - started)
        tracemalloc.start()
        ours(args.runs)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    lib, our = min(lib_times), min(our_times)
    print(f"libraries (parse + expand): {lib:.2f} s, {occurrences} occurrences")
    print(f"our import (into SQLite):   {our:.2f} s, {days} collection days")
    print(f"ratio: {our / lib:.2f}x (target <= 1.30x); peak traced memory {peak / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
