"""Chaos benchmark: several `broadcaster serve` replicas on one PostgreSQL, LINE's limits
and its faults, and kill -9 at random points across the replicas, the leader included.

Each round, a department's notice to every resident goes out through the API, and while it
is being sent the disaster desk orders an evacuation for `--districts` of the 6 districts.
Meanwhile replicas are killed with SIGKILL at random moments (never the last one alive),
each restarted 2 s later under the same replica id. Rounds go on until `--kills` kills were
made (each round starts with every replica up). The LINE sandbox enforces LINE's rate
(multicast 200 requests/s, a token bucket) and injects faults: 10% 500, 5% 429, 2%
dropped connections, 1% accepted-but-lost answers. Frequency caps are off (each round
reaches every resident again).

    python bench/chaos.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
        [--residents 200000] [--replicas 3] [--kills 20] [--seed 1]

Prints per round and in total: lost and duplicated deliveries (target 0 and 0), our own
requests LINE refused for its rate (429s not injected; target 0), the most requests in
any second, the round's time against LINE's floor plus the faults' cost (the extra
requests the faults made, at LINE's rate) and the ratio (target <= 2), the order's last
acceptance against its floor, and each leader failover (kill -> another replica leads).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import urllib.error
from itertools import pairwise
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.emergency import DISTRICTS, prepare  # noqa: E402
from bench.harness import (  # noqa: E402
    FINISHED,
    MULTICAST_RATE,
    Service,
    cpu_model,
    database,
    floor_seconds,
    load,
    service_env,
)
from broadcaster.batches import Batch  # noqa: E402
from broadcaster.db import make_engine  # noqa: E402
from broadcaster.migrate import alembic_config  # noqa: E402
from broadcaster.models import metadata  # noqa: E402
from broadcaster.sandbox import SandboxConfig  # noqa: E402
from broadcaster.sandbox.config import FaultConfig  # noqa: E402
from broadcaster.sandbox.testing import SandboxProcess, free_port  # noqa: E402

RESTART_AFTER = 2.0
LINE_FAULTS = FaultConfig(error_500=0.10, error_429=0.05, drop=0.02, lost_response=0.01)


class Cluster:
    """The replicas, which of them are up, and who leads (polled from `/readyz`)."""

    def __init__(self, tmp: str, url: str, sandbox_url: str, count: int) -> None:
        self.replicas: list[Service] = []
        for n in range(count):
            port = free_port()
            env = service_env(
                tmp, url, port, sandbox_url,
                BROADCASTER_SERVER_REPLICA_ID=f"r{n}",
                BROADCASTER_LOG_LEVEL="info",
                BROADCASTER_FREQUENCY_MAX_PER_DAY="0",
                BROADCASTER_FREQUENCY_MAX_PER_WEEK="0",
                BROADCASTER_RESIDENTS_DISTRICTS="[" + ",".join(f'"{d}"' for d in DISTRICTS) + "]",
            )
            self.replicas.append(Service(env, port, Path(tmp) / f"serve-r{n}.log"))
        self.up: set[int] = set()
        self.leader: int | None = None
        self.leader_log: list[tuple[float, int | None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._restarts: list[threading.Thread] = []
        self._monitor = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Cluster:
        for n, replica in enumerate(self.replicas):
            replica.start()
            self.up.add(n)
        self._monitor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._restarts:
            thread.join()
        self._monitor.join()
        for replica in self.replicas:
            replica.stop()

    def call(self, method: str, path: str, token: str, body: Any = None) -> dict[str, Any]:
        """Through any replica that is up (a load balancer's job)."""
        for _ in range(200):
            for n in sorted(self.up):
                try:
                    return self.replicas[n].call(method, path, token, body)
                except (OSError, urllib.error.URLError):
                    continue
            time.sleep(0.05)
        raise RuntimeError("no replica answered")

    def wait_finished(self, token: str, broadcast_id: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.call("GET", f"/api/v1/broadcasts/{broadcast_id}", token)["status"] \
                not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"broadcast {broadcast_id} did not finish")
            time.sleep(0.1)

    def wait_all_up(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while len(self.up) < len(self.replicas):
            if time.monotonic() > deadline:
                raise TimeoutError("a restarted replica did not come up")
            time.sleep(0.05)

    def kill(self, n: int) -> float:
        """SIGKILL replica n now and restart it RESTART_AFTER seconds later."""
        with self._lock:
            self.up.discard(n)
        self.replicas[n].kill()
        killed = time.time()

        def restart() -> None:
            time.sleep(RESTART_AFTER)
            self.replicas[n].start()
            with self._lock:
                self.up.add(n)

        thread = threading.Thread(target=restart, daemon=True)
        thread.start()
        self._restarts.append(thread)
        return killed

    def _watch(self) -> None:
        while not self._stop.is_set():
            leader = None
            for n in sorted(self.up):
                try:
                    if self.replicas[n].call("GET", "/readyz").get("leader"):
                        leader = n
                except (OSError, urllib.error.URLError):
                    pass  # readyz answers 503 while unready
            if leader != self.leader:
                self.leader = leader
                self.leader_log.append((time.time(), leader))
            self._stop.wait(0.1)

    def failover_after(self, killed_at: float, victim: int) -> float | None:
        """Seconds from the leader's kill until another replica was seen leading."""
        for at, leader in self.leader_log:
            if at >= killed_at and leader is not None and leader != victim:
                return at - killed_at
        return None


def _batch_keys(engine: sa.engine.Engine, broadcast_id: int) -> tuple[set[str], int]:
    batch = Batch.__table__
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(batch.c.retry_key, batch.c.recipient_count)
            .where(batch.c.broadcast_id == broadcast_id)).all()
    return {r.retry_key for r in rows}, sum(r.recipient_count for r in rows)


def _outcome(log: list[dict[str, Any]], duplicates: list[dict[str, Any]], keys: set[str],
             expected: int, broadcast_id: int) -> dict[str, Any]:
    ours = [r for r in log if r["retry_key"] in keys]
    served = sum(int(r["recipients"]) for r in ours if r["status"] == 200)
    dups = sum(d["count"] - 1 for d in duplicates if d["unit"] == f"b{broadcast_id}")
    accepted = [r["at"] for r in ours if r["status"] in (200, 409)]
    tries: dict[str, list[float]] = {}
    for r in ours:
        tries.setdefault(r["retry_key"], []).append(r["at"])
    chain = max((max(t) - min(t) for t in tries.values()), default=0.0)
    return {"expected": expected, "duplicates": dups, "missing": expected - (served - dups),
            "requests": len(ours), "first": min(accepted, default=0.0),
            "last": max(accepted, default=0.0), "chain": chain}


def busiest_second(log: list[dict[str, Any]], endpoint: str = "multicast") -> int:
    times = sorted(r["at"] for r in log if r["endpoint"] == endpoint and r["status"] != 0)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def run(server_url: str, residents: int = 200_000, replicas: int = 3, kills: int = 20,
        districts: int = 2, latency_ms: int = 20, seed: int = 1,
        kill_gap: tuple[float, float] = (0.3, 0.9), max_rounds: int = 12) -> dict[str, Any]:
    rng = random.Random(seed)
    started_load = load()
    rounds: list[dict[str, Any]] = []
    leader_kills: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory() as tmp, database(tmp, server_url) as url:
        engine = make_engine(url)
        metadata.create_all(engine)
        command.stamp(alembic_config(engine), "head")
        tokens = prepare(engine, residents)
        config = SandboxConfig(delay_ms=latency_ms, faults=LINE_FAULTS, seed=seed)
        with SandboxProcess(config) as sandbox, \
                Cluster(tmp, url, sandbox.url, replicas) as cluster:
            made = 0
            while made < kills and len(rounds) < max_rounds:
                cluster.wait_all_up()  # each round starts with every replica up
                began = time.time()
                notice = cluster.call("POST", "/api/v1/broadcasts", tokens["department"], {
                    "title": "断水のお知らせ", "category": "general",
                    "template_text": "断水のお知らせです。", "send_at": "now"})["id"]
                order: int | None = None
                emergency = 0
                ordered_at = began
                done = threading.Event()

                def finish(notice_id: int = notice, done: threading.Event = done) -> None:
                    cluster.wait_finished(tokens["department"], notice_id)
                    done.set()

                waiter = threading.Thread(target=finish, daemon=True)
                waiter.start()
                round_kills = 0
                kill_times: list[tuple[float, str]] = []
                while not done.is_set() or order is None:
                    if order is None and time.time() - began > 0.5:
                        ordered = cluster.call("POST", "/api/v1/emergencies", tokens["desk"], {
                            "level": 4, "districts": DISTRICTS[:districts], "kind": "洪水",
                            "text": "川が氾濫するおそれがあります。"})
                        order, emergency = ordered["broadcasts"][0]["id"], ordered["id"]
                        ordered_at = time.time()
                    done.wait(rng.uniform(*kill_gap))
                    if done.is_set() or made >= kills or len(cluster.up) < 2:
                        continue
                    leader = cluster.leader
                    # Every other kill is the leader's (when one is known), the others
                    # hit a replica that is not leading: A, B, A, B with two replicas.
                    others = sorted(cluster.up - {leader})
                    victim = leader if made % 2 == 0 and leader in cluster.up \
                        else rng.choice(others or sorted(cluster.up))
                    killed_at = cluster.kill(victim)
                    made += 1
                    round_kills += 1
                    kill_times.append((killed_at, "L" if victim == leader else "r"))
                    if victim == leader:
                        leader_kills.append((killed_at, victim))
                waiter.join()
                assert order is not None
                cluster.wait_finished(tokens["desk"], order)
                ended = time.time()
                # Lifted before the next round (a notice is held while an order is on).
                lift = cluster.call("POST", f"/api/v1/emergencies/{emergency}/lift",
                                    tokens["desk"], {})
                cluster.wait_finished(tokens["desk"], lift["broadcast_id"])
                rounds.append({"notice": notice, "order": order, "began": began,
                               "ordered_at": ordered_at, "ended": ended, "kills": round_kills,
                               "kill_times": kill_times})
            time.sleep(RESTART_AFTER + 0.5)  # let the last restarts come up before leaving
            log = sandbox.requests()
            duplicates = sandbox.duplicates()
            resolved = [cluster.failover_after(at, victim) for at, victim in leader_kills]
        rows = []
        for r in rounds:
            n_keys, n_expected = _batch_keys(engine, r["notice"])
            o_keys, o_expected = _batch_keys(engine, r["order"])
            notice = _outcome(log, duplicates, n_keys, n_expected, r["notice"])
            order = _outcome(log, duplicates, o_keys, o_expected, r["order"])
            window = [x for x in log if r["began"] <= x["at"] <= r["ended"] + 1]
            minimal = -(-n_expected // 500) + -(-o_expected // 500)
            sent = notice["requests"] + order["requests"]
            floor = floor_seconds(n_expected) + floor_seconds(o_expected)
            # What the faults (and kills) cost on the critical path: the longest a batch
            # took from its first try to its last (backoffs, takeovers), or the extra
            # requests at LINE's rate, whichever is more.
            fault_cost = max(max(0, sent - minimal) / MULTICAST_RATE,
                             notice["chain"], order["chain"])
            took = max(notice["last"], order["last"]) - r["began"]
            rows.append({
                "kills": r["kills"],
                "lost": notice["missing"] + order["missing"],
                "duplicates": notice["duplicates"] + order["duplicates"],
                "over_rate_429s": sum(1 for x in window
                                      if x["status"] == 429 and x.get("fault") is None),
                "busiest_second": busiest_second(window),
                "took_s": took, "floor_s": floor, "fault_cost_s": fault_cost,
                "ratio_to_floor": took / floor,
                "ratio": took / (floor + fault_cost),
                "order_last_s": order["last"] - r["ordered_at"],
                "order_floor_s": floor_seconds(o_expected),
                "requests": sent, "minimal_requests": minimal,
                # Where the time went: kills (L: the leader's) and the stretches of more
                # than 0.5 s in which none of the round's requests reached LINE.
                "kills_at": " ".join(f"{at - r['began']:.1f}{who}"
                                     for at, who in r["kill_times"]),
                "silences": " ".join(f"{a - r['began']:.1f}+{b - a:.1f}" for a, b in pairwise(
                    sorted(x["at"] for x in log if x["retry_key"] in n_keys | o_keys))
                    if b - a > 0.5),
            })
        engine.dispose()
    known = [f for f in resolved if f is not None]
    return {
        "replicas": replicas, "residents": residents, "rounds": rows,
        "kills": sum(r["kills"] for r in rows),
        "lost": sum(r["lost"] for r in rows),
        "duplicates": sum(r["duplicates"] for r in rows),
        "over_rate_429s": sum(r["over_rate_429s"] for r in rows),
        "worst_ratio": max((r["ratio"] for r in rows), default=0.0),
        "leader_kills": len(resolved),
        "failover_s": known,
        "failover_max_s": max(known, default=0.0),
        "failover_unseen": len(resolved) - len(known),
        "load": f"{started_load}→{load()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", required=True,
                        help="a PostgreSQL server URL; the run uses a fresh database there")
    parser.add_argument("--residents", type=int, default=200_000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--districts", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"# {cpu_model()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    result = run(args.postgres, args.residents, args.replicas, args.kills, args.districts,
                 seed=args.seed)
    for n, row in enumerate(result.pop("rounds"), 1):
        print(f"round {n}: " + ", ".join(
            f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    for key, value in result.items():
        if isinstance(value, list):
            value = ", ".join(f"{v:.2f}" for v in value)
        print(f"{key:>16}: {value:.3f}" if isinstance(value, float) else f"{key:>16}: {value}")
    print(f"{'targets':>16}: lost 0, duplicates 0, over_rate_429s 0, worst_ratio <= 2, "
          "failover_max_s <= 5")


if __name__ == "__main__":
    main()
