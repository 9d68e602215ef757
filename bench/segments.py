"""Benchmark: preview count of a compound rule over 1,000,000 synthetic residents.

Not a test. Builds the schema (metadata.create_all, with the models' indexes), inserts
residents in large core-insert chunks, runs ANALYZE, then times the audience count for
district in 3 of 20 AND interest 防災 AND age >= 65 AND language ja, and prints the median,
p95, the target and the query plan.

    .venv/bin/python bench/segments.py [--residents 1000000] [--db PATH] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `segments` package; the repository root goes there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from broadcaster.db import make_engine  # noqa: E402
from broadcaster.models import metadata  # noqa: E402
from broadcaster.settings import ResidentSettings  # noqa: E402
from segments.audience import audience_filter  # noqa: E402
from segments.fields import FieldCatalog  # noqa: E402
from segments.preview import count_audience, preview  # noqa: E402
from segments.residents import Resident, ResidentInterest, ResidentOptOut  # noqa: E402
from segments.rule_parser import parse_rule  # noqa: E402

TARGET_MS = 300.0
CHUNK = 50_000
DISTRICTS = [f"地区{n:02d}" for n in range(1, 21)]
INTERESTS = ["子育て", "防災", "健康・福祉", "イベント", "観光", "農林水産"]
LANGUAGES = ["ja"] * 8 + ["easy-ja", "en", "zh", "ko", "vi", "pt"]
ON = dt.date(2026, 4, 1)
RULE = {
    "all": [
        {"field": "district", "op": "in", "value": DISTRICTS[:3]},
        {"field": "interests", "op": "contains", "value": "防災"},
        {"field": "age", "op": "gte", "value": 65},
        {"field": "language", "op": "eq", "value": "ja"},
    ]
}


def populate(engine: Engine, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    metadata.create_all(engine)
    start = time.perf_counter()
    resident_table = Resident.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        for first in range(1, count + 1, CHUNK):
            ids = range(first, min(first + CHUNK, count + 1))
            residents, interests, opt_outs = [], [], []
            for n in ids:
                known = rng.random()
                born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 90))
                residents.append(
                    {
                        "id": n,
                        "line_user_id": f"U{n:032x}",
                        "follow_state": "following" if rng.random() < 0.93 else "blocked",
                        "follow_count": 1,
                        "reminder_timing": "eve",
                        "district": rng.choice(DISTRICTS),
                        "garbage_zone": "A",
                        "language": rng.choice(LANGUAGES),
                        "birth_date": born if known < 0.5 else None,
                        "birth_year": born.year if known < 0.7 else None,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                for interest in rng.sample(INTERESTS, rng.randrange(0, 4)):
                    interests.append({"resident_id": n, "interest": interest})
                if rng.random() < 0.05:
                    opt_outs.append({"resident_id": n, "category": "general"})
            connection.execute(sa.insert(resident_table), residents)
            connection.execute(sa.insert(ResidentInterest.__table__), interests)  # type: ignore[attr-defined]
            if opt_outs:
                connection.execute(sa.insert(ResidentOptOut.__table__), opt_outs)  # type: ignore[attr-defined]
            print(
                f"  {ids[-1]:>9,} residents ({time.perf_counter() - start:.0f} s)",
                end="\r",
                flush=True,
            )
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    print(f"\ninserted {count:,} residents in {time.perf_counter() - start:.1f} s")


def plan(engine: Engine, statement: sa.Select[tuple[int]]) -> str:
    sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + sql).all()
    return "\n".join("  " + " | ".join(str(part) for part in row) for row in rows)


def measure(engine: Engine, runs: int) -> None:
    residents = ResidentSettings(
        districts=DISTRICTS,
        zones=["A"],
        interests=INTERESTS,
        languages=sorted(set(LANGUAGES)),
        categories=["general"],
    )
    rule = parse_rule(RULE, FieldCatalog.from_settings(residents))
    timings: list[float] = []
    with Session(engine) as session:
        count = count_audience(session, rule, on=ON)  # warm the cache
        for _ in range(runs):
            start = time.perf_counter()
            count_audience(session, rule, on=ON)
            timings.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        full = preview(session, rule, on=ON, category="general")
        preview_ms = (time.perf_counter() - start) * 1000
    timings.sort()
    median = statistics.median(timings)
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    verdict = "OK" if median < TARGET_MS else "OVER TARGET"
    print(f"[{engine.dialect.name}] audience count = {count:,}")
    print(
        f"  count: median {median:.1f} ms, p95 {p95:.1f} ms over {runs} runs "
        f"(target median < {TARGET_MS:.0f} ms: {verdict})"
    )
    print(f"  full preview (opt-outs, breakdowns, samples): {preview_ms:.1f} ms, {full.count:,}")
    statement = (
        sa.select(sa.func.count())
        .select_from(Resident)
        .where(audience_filter(rule, on=ON, category=None))
    )
    print("  query plan:\n" + plan(engine, statement))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument(
        "--db", type=Path, help="SQLite file (default: a temp dir); reused if it exists"
    )
    parser.add_argument("--postgres-url", help="also run on this (empty) PostgreSQL database")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        existed = path.exists()
        engine = make_engine(f"sqlite:///{path}")
        if not existed:
            populate(engine, args.residents)
        measure(engine, args.runs)
        engine.dispose()
    if args.postgres_url:
        engine = make_engine(args.postgres_url)
        with engine.connect() as connection:
            has_rows = (
                sa.inspect(connection).has_table("resident")
                and connection.execute(
                    sa.select(sa.func.count()).select_from(Resident)
                ).scalar_one()
                > 0
            )
        if not has_rows:
            populate(engine, args.residents)
        measure(engine, args.runs)


if __name__ == "__main__":
    main()
