"""What the benchmarks share: a database, `broadcaster serve` in its own process talked to
over HTTP, the LINE sandbox in another, the service's CPU and memory, and the peer.

The peer is the yardstick: a hand-written loop over the SDK's `AsyncMessagingApi`
(multicast, 16 requests in flight, paced to LINE's 200 requests/s, retrying 429s and
5xx under the same retry key), with the user ids read from the same SQLite file and no
outbox, run against the same sandbox in the same run. It is what a city could write in
an afternoon; the service must be at least as fast while keeping its guarantees.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    MulticastRequest,
    TextMessage,
)
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from broadcaster.db import make_engine  # noqa: E402

FINISHED = {"sent", "partially_failed", "failed", "cancelled", "expired"}
MULTICAST_RATE = 200.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


@contextmanager
def database(tmp: str, server_url: str | None) -> Iterator[str]:
    """A SQLite file in `tmp`, or a fresh database on the PostgreSQL server given."""
    if not server_url:
        yield f"sqlite:///{tmp}/bench.db"
        return
    server = make_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def bulk_residents(path: str, count: int, districts: list[str]) -> None:
    """N following residents through sqlite3's executemany (a million in ~10 s)."""
    stamp = "2026-04-01 00:00:00.000000"
    rows = (
        (f"U{n:032x}", "following", stamp, stamp, stamp, "en" if n % 10 == 0 else "ja",
         districts[n % len(districts)], "A", 1, "eve")
        for n in range(1, count + 1)
    )
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO resident (line_user_id, follow_state, followed_at, created_at, "
            "updated_at, language, district, garbage_zone, follow_count, reminder_timing) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        connection.execute("COMMIT")
        # Fold the bulk load into the file now, not into the measured run's first commit.
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


class Usage:
    """CPU seconds and peak RSS of a process and its children, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak_rss = 0
        self.peak_tree_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._cpu0 = 0.0
        self._main0 = self._main_cpu = 0.0

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.process, *self.process.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu(self) -> float:
        return sum(self._cpu_each().values())

    def _cpu_each(self) -> dict[int, float]:
        """CPU seconds so far of the process (its pid) and of each child."""
        each: dict[int, float] = {}
        for process in self._tree():
            try:
                times = process.cpu_times()
                each[process.pid] = times.user + times.system
            except psutil.Error:
                pass
        return each

    def main_cpu(self) -> float:
        """CPU seconds of the main process alone since entering (the rest is children's)."""
        return self._main_cpu

    def _sample(self) -> None:
        while not self._stop.is_set():
            tree = 0
            for process in self._tree():
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                tree += rss
                if process.pid == self.process.pid:
                    self.peak_rss = max(self.peak_rss, rss)
            self.peak_tree_rss = max(self.peak_tree_rss, tree)
            time.sleep(0.05)

    def __enter__(self) -> Usage:
        self._cpu0 = self.cpu()
        self._main0 = self._cpu_each().get(self.process.pid, 0.0)
        self._thread.start()
        return self

    def stop(self) -> float:
        """Stop sampling; returns the CPU seconds used since entering."""
        self._stop.set()
        self._thread.join()
        each = self._cpu_each()
        self._main_cpu = each.get(self.process.pid, 0.0) - self._main0
        return sum(each.values()) - self._cpu0

    def __exit__(self, *exc: object) -> None:
        if not self._stop.is_set():
            self.stop()


class Service:
    """`broadcaster serve` in a child process, talked to over HTTP like any client. Stopped
    (terminated, then killed) however the block ends."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.env, self._log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "broadcaster", "serve"],
                env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.call("GET", "/healthz")
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"serve did not start:\n{self._log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.05)

    def wait_dispatch_process(self, timeout: float = 120) -> None:
        """Wait until the service's dispatch process is up (a service started long ago
        has it; until then notices are written in the main process)."""
        deadline = time.monotonic() + timeout
        while self.call("GET", "/healthz").get("dispatch_process", "ready") != "ready":
            if time.monotonic() > deadline:
                raise TimeoutError("the dispatch process did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, as a crash would (its dispatch child dies with it)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, method: str, path: str, token: str | None = None,
             body: Any = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {token}"} if token else {})},
        )
        with _DIRECT.open(request, timeout=60) as response:
            answer: dict[str, Any] = json.loads(response.read() or b"{}")
            return answer

    def wait_finished(self, token: str, broadcast_id: int, timeout: float = 900) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status = str(self.call("GET", f"/api/v1/broadcasts/{broadcast_id}", token)["status"])
            if status in FINISHED:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"broadcast {broadcast_id} did not finish")
            time.sleep(0.2)


def service_env(tmp: str, url: str, port: int, sandbox_url: str,
                **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "BROADCASTER_CONFIG": str(REPO / "config.toml"),
        "BROADCASTER_DATA_DIR": tmp,
        "BROADCASTER_DATABASE_URL": url,
        "BROADCASTER_SERVER_PORT": str(port),
        "BROADCASTER_LOG_LEVEL": "warning",
        "BROADCASTER_LINE_API_BASE_URL": sandbox_url,
        "BROADCASTER_LINE_CHANNEL_ACCESS_TOKEN": "sandbox-token",
        "BROADCASTER_LINE_CHANNEL_SECRET": "sandbox-secret",
        # Notices must go now, whatever the hour the bench runs at.
        "BROADCASTER_QUIET_HOURS_ENABLED": "false",
        **extra,
    }


def floor_seconds(recipients: int) -> float:
    return math.ceil(recipients / 500) / MULTICAST_RATE


def run_peer(
    sandbox_url: str, read_ids: Callable[[], list[str]], in_flight: int = 16
) -> dict[str, float]:
    """The peer: read the audience's ids from the database (`read_ids`), then multicast
    them through the SDK, paced to 200 requests/s. Returns wall seconds from before the
    read to the last answer (the service's wall, too, starts before it reads its
    audience: at the API call), the read's share of it, its CPU seconds and the 429s it
    met."""
    began, cpu_began = time.monotonic(), time.process_time()
    user_ids = read_ids()
    read_s = time.monotonic() - began
    chunks = [user_ids[i:i + 500] for i in range(0, len(user_ids), 500)]

    async def main() -> dict[str, float]:
        config = Configuration(host=sandbox_url, access_token="sandbox-token")
        config.connection_pool_maxsize = in_flight * 2
        limited = 0
        async with AsyncApiClient(config) as client:
            api = AsyncMessagingApi(client)
            queue: asyncio.Queue[list[str]] = asyncio.Queue()
            for chunk in chunks:
                queue.put_nowait(chunk)
            start = time.monotonic()
            sent = 0
            lock = asyncio.Lock()

            async def paced() -> None:
                nonlocal sent
                async with lock:
                    slot = start + sent / MULTICAST_RATE
                    sent += 1
                delay = slot - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

            async def sender() -> None:
                nonlocal limited
                while not queue.empty():
                    chunk = queue.get_nowait()
                    key = str(uuid.uuid4())
                    request = MulticastRequest(to=chunk, messages=[TextMessage(text="お知らせ")])
                    while True:
                        await paced()
                        try:
                            await api.multicast_with_http_info(request, x_line_retry_key=key)
                            break
                        except ApiException as exc:
                            if exc.status == 409:
                                break
                            if exc.status == 429:
                                limited += 1
                            elif exc.status < 500:
                                raise

            await asyncio.gather(*(sender() for _ in range(in_flight)))
            return {"wall_s": time.monotonic() - began, "read_s": read_s,
                    "cpu_s": time.process_time() - cpu_began, "429s": float(limited)}

    return asyncio.run(main())


def user_ids_from(path: str, districts: Sequence[str] | None = None) -> list[str]:
    """The peer's read: the following residents' ids (in `districts`, when given), through
    sqlite3 as a hand-written script would."""
    where = "follow_state = 'following'"
    if districts is not None:
        where += f" AND district IN ({', '.join('?' for _ in districts)})"
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute(
            f"SELECT line_user_id FROM resident WHERE {where} ORDER BY id", list(districts or []))]
    finally:
        connection.close()


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"
