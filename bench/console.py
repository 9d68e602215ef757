"""Console page benchmark: every page of the staff console against its 300 ms budget.

A fresh SQLite file with N following residents (default 100k, spread over districts,
zones, languages and interests) and 1,000 broadcasts of four departments in every state;
`broadcaster serve` in its own process with its defaults; one staff account per role
signed in through the sign-in page like a browser. Then each page of that role's menu,
plus a notice's own page and its progress fragment, is fetched `--repeat` times.

    python bench/console.py                    # 100k residents, 1,000 broadcasts
    python bench/console.py --residents 20000

Columns: median and worst answer time of each page in ms; budget = worst / 300 ms (target
<= 1); vs_floor = median / the median of `/healthz` on the same server in the same run
(what any answer of this server costs: the peer a page is measured against).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
from alembic import command
from sqlmodel import Session

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import Service, bulk_residents, cpu_model, load, service_env  # noqa: E402
from broadcaster.broadcasts import Broadcast  # noqa: E402
from broadcaster.console.web import NAV  # noqa: E402
from broadcaster.db import make_engine  # noqa: E402
from broadcaster.departments import Role, create_department  # noqa: E402
from broadcaster.kpis import friend_figures  # noqa: E402
from broadcaster.migrate import alembic_config  # noqa: E402
from broadcaster.models import metadata  # noqa: E402
from broadcaster.sandbox.testing import SandboxProcess, free_port  # noqa: E402
from broadcaster.settings import load_settings  # noqa: E402
from broadcaster.staff import StaffAccount, hash_password  # noqa: E402
from tests.delivery.scenario import T0  # noqa: E402

BUDGET_MS = 300.0
PASSWORD = "benchmark password"
DEPARTMENTS = {
    "子育て支援課": (Role.department, "kosodate"),
    "環境課": (Role.department, "kankyo"),
    "危機管理課": (Role.disaster_desk, "bosai"),
    "情報政策課": (Role.admin, "admin"),
}
STATUSES = [
    "sent",
    "sent",
    "sent",
    "scheduled",
    "draft",
    "cancelled",
    "partially_failed",
    "failed",
    "expired",
    "sending",
]
INTERESTS = ["子育て", "防災", "健康・福祉", "イベント", "観光", "農林水産"]


def seed(url: str, path: str, residents: int, broadcasts: int) -> None:
    engine = make_engine(url)
    metadata.create_all(engine)
    command.stamp(alembic_config(engine), "head")
    with Session(engine) as session:
        ids = {}
        password_hash = hash_password(PASSWORD)
        for name, (role, login) in DEPARTMENTS.items():
            department, _ = create_department(session, name, role, T0)
            ids[name] = department.id
            session.add(
                StaffAccount(
                    department_id=department.id,
                    login=login,
                    name=login,
                    password_hash=password_hash,
                    created_at=T0,
                )
            )
        session.commit()
    bulk_residents(path, residents, ["中央", "北", "南", "東", "西", "山間"])
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO resident_interest (resident_id, interest) "
                "SELECT id, CASE id % 6 "
                + " ".join(f"WHEN {i} THEN '{interest}'" for i, interest in enumerate(INTERESTS))
                + " END FROM resident"
            )
        )
    department_ids = list(ids.values())
    with Session(engine) as session:
        for n in range(broadcasts):
            at = datetime(2026, n % 12 + 1, n % 28 + 1, n % 9, tzinfo=UTC)
            session.add(
                Broadcast(
                    department_id=department_ids[n % len(department_ids)],
                    title=f"お知らせ {n}",
                    category="general",
                    template_text="{{ resident.district }}のみなさまへ",
                    send_at=at,
                    created_at=at,
                    updated_at=at,
                    status=STATUSES[n % len(STATUSES)],
                    created_by="bench",
                )
            )
        session.commit()
        # As for a service started long before: its scheduler has tallied the friends
        # figures (kpis.friend_figures), as it does every few minutes.
        friend_figures.tally(session, datetime.now(UTC), ZoneInfo("Asia/Tokyo"))
        session.commit()
    engine.dispose()


def sign_in(client: httpx.Client, login: str) -> None:
    page = client.get("/console").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page[:500]
    answer = client.post(
        "/console/login", data={"login": login, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code in (200, 303), answer.text[:500]


def timed(client: httpx.Client, path: str, repeat: int) -> tuple[list[float], int]:
    times, status = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        status = answer.status_code
    return times, status


def run(residents: int, broadcasts: int, repeat: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        path = f"{tmp}/bench.db"
        url = f"sqlite:///{path}"
        seed(url, path, residents, broadcasts)
        port = free_port()
        with (
            SandboxProcess() as sandbox,
            Service(
                service_env(tmp, url, port, sandbox.url), port, Path(tmp) / "serve.log"
            ) as service,
        ):
            floor, _ = timed(httpx.Client(base_url=service.url), "/healthz", repeat * 2)
            floor_ms = statistics.median(floor)
            # The settings serve runs with (config.toml and the environment it is given).
            settings = load_settings(REPO / "config.toml", environ=service.env)
            for n, (name, (role, login)) in enumerate(DEPARTMENTS.items()):
                with httpx.Client(
                    base_url=service.url, follow_redirects=True, timeout=30
                ) as client:
                    sign_in(client, login)
                    pages = [
                        item.href
                        for item in NAV
                        if role in item.roles
                        and (item.owner is None or role == Role.admin
                             or item.owner(settings) == name)
                    ]
                    # Broadcast n + 1 is this department's own (`seed` deals them in turn).
                    pages += [f"/console/broadcasts/{n + 1}", "/console/broadcasts?page=10"]
                    for page in pages:
                        times, status = timed(client, page, repeat)
                        rows.append(
                            {
                                "role": role.value,
                                "page": page,
                                "status": status,
                                "median_ms": statistics.median(times),
                                "worst_ms": max(times),
                                "budget": max(times) / BUDGET_MS,
                                "vs_floor": statistics.median(times) / floor_ms,
                            }
                        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--broadcasts", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"# {time.strftime('%Y-%m-%d')} {cpu_model()}, load {load()}; "
        f"{args.residents:,} residents, {args.broadcasts:,} broadcasts"
    )
    rows = run(args.residents, args.broadcasts, args.repeat)
    print(
        f"{'role':14} {'page':34} {'status':>6} {'median':>8} {'worst':>8} "
        f"{'budget':>7} {'vs_floor':>8}"
    )
    for row in rows:
        print(
            f"{row['role']:14} {row['page']:34} {row['status']:>6} "
            f"{row['median_ms']:>6.0f}ms {row['worst_ms']:>6.0f}ms {row['budget']:>7.2f} "
            f"{row['vs_floor']:>8.1f}"
        )
    over = [row for row in rows if row["budget"] > 1 or row["status"] != 200]
    print(f"# {len(rows)} pages, {len(over)} over budget or not 200")


if __name__ == "__main__":
    main()
