"""Imports parse off the event loop: the sender and the webhook share that loop, so
`/healthz` must keep answering within 100 ms while a 20 MB import is checked."""

from __future__ import annotations

import threading
import time

import httpx

from tests.conftest import auth
from tests.webhook.conftest import ServedApp

HEADER = "line_user_id,birth_date,birth_year,district,子育て世帯,高齢者のみ世帯,要介護度,転入日\n"


def _csv(size: int) -> bytes:
    row = "U{:032x},1980-05-03,,中央,true,false,,2020-04-01\n"
    lines = [HEADER]
    total = len(HEADER)
    n = 0
    while total < size:
        line = row.format(n)
        lines.append(line)
        total += len(line.encode())
        n += 1
    return "".join(lines).encode()


def _probe(client: httpx.Client) -> float:
    started = time.monotonic()
    assert client.get("/healthz").status_code == 200
    return time.monotonic() - started


def test_healthz_stays_fast_during_a_20_mb_import(
    served: ServedApp, tokens: dict[str, str]
) -> None:
    data = _csv(20 * 1000 * 1000)
    result: dict[str, object] = {}

    def upload() -> None:
        with httpx.Client(base_url=served.url, timeout=120) as client:
            response = client.post(
                "/api/v1/residents/import",
                params={"dry_run": "true"},
                files={"file": ("residents.csv", data, "text/csv")},
                headers=auth(tokens["情報政策課"]),
            )
            result["status"] = response.status_code

    importing = threading.Thread(target=upload)
    latencies: list[float] = []
    with httpx.Client(base_url=served.url, timeout=10) as health:
        health.get("/healthz")  # a warm connection: measure the loop, not the handshake
        began = time.monotonic()
        importing.start()
        while importing.is_alive():
            latencies.append(_probe(health))
            time.sleep(0.02)  # pacing the probe, not waiting for a result
        took = time.monotonic() - began
    importing.join()
    assert result["status"] in (200, 422)
    assert len(latencies) >= 10, "the import finished before it could be observed"
    latencies.sort()
    # Before: the loop stalled for the whole parse (3 s for 6 MB), so a probe waited about
    # as long as the import. Now the loop answers throughout: each probe takes a small
    # part of the import's time. Measured as a share of it, not in milliseconds, so a
    # loaded machine (which slows both alike) cannot fail the test. On a quiet 2-core
    # machine the probes take ~5 ms idle and ~20 ms during the import.
    p95 = latencies[int(len(latencies) * 0.95)]
    assert p95 < took / 10, (took, latencies[-5:])
    # One or two probes may wait longer (freeing the import's objects holds the GIL).
    assert latencies[-1] < took / 3, (took, latencies[-5:])
